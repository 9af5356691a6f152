import Crypto
import HTTP1
import WebSocket
import Testing

@Suite struct WebSocketHandshakeTests {
    func head(_ headers: [(String, String)], method: String = "GET", version: HTTPVersion = .http11) -> HTTPRequestHead {
        HTTPRequestHead(method: method, target: "/v1", version: version, headers: HTTPHeaders([("Host", "x")] + headers))
    }

    let good = [("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"), ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]

    /// RFC 6455 §1.3's worked example.
    @Test func acceptValueOfTheRFCExample() {
        #expect(WebSocketHandshake.acceptValue(for: "dGhlIHNhbXBsZSBub25jZQ==", sha1: Crypto.sha1) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func aGoodHandshakeIsAccepted() {
        #expect(WebSocketHandshake.evaluate(head(good)) == .accept(key: "dGhlIHNhbXBsZSBub25jZQ=="))
        // Header names and the Upgrade token in any case; permessage-deflate offered is simply declined.
        let mixed = [("upgrade", "WebSocket"), ("connection", "upgrade"), ("sec-websocket-version", "13"),
                     ("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="), ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]
        #expect(WebSocketHandshake.evaluate(head(mixed)) == .accept(key: "AAAAAAAAAAAAAAAAAAAAAA=="))
    }

    @Test func notAnUpgradeIs426() {
        #expect(WebSocketHandshake.evaluate(head([])) == .upgradeRequired)
        #expect(WebSocketHandshake.evaluate(head([("Upgrade", "h2c"), ("Connection", "Upgrade")])) == .upgradeRequired)
    }

    @Test(arguments: [nil, "8", "12", "14", "13, 8", "thirteen"] as [String?])
    func anotherVersionIs426(version: String?) {
        var headers = good.filter { $0.0 != "Sec-WebSocket-Version" }
        if let version { headers.append(("Sec-WebSocket-Version", version)) }
        #expect(WebSocketHandshake.evaluate(head(headers)) == .unsupportedVersion)
    }

    @Test(arguments: [nil, "", "short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZSE=", "dGhlIHNhbXBsZSBub25jZQ=!", "AAAAAAAAAAAAAAAAAAAAAAAA"] as [String?])
    func aMalformedKeyIs400(key: String?) {
        var headers = good.filter { $0.0 != "Sec-WebSocket-Key" }
        if let key { headers.append(("Sec-WebSocket-Key", key)) }
        guard case .badRequest = WebSocketHandshake.evaluate(head(headers)) else {
            Issue.record("\(String(describing: key)) accepted")
            return
        }
    }

    @Test func otherMalformedHandshakesAre400() {
        let noConnection = good.filter { $0.0 != "Connection" }
        let twoKeys = good + [("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]
        for (headers, method, version) in [(noConnection, "GET", HTTPVersion.http11), (twoKeys, "GET", .http11), (good, "POST", .http11), (good, "GET", .http10)] {
            guard case .badRequest = WebSocketHandshake.evaluate(head(headers, method: method, version: version)) else {
                Issue.record("\(method) \(version) \(headers) accepted")
                continue
            }
        }
    }

    @Test func theEncoderWritesShortestLengths() {
        for (length, headerBytes) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            var out: [UInt8] = []
            WebSocketFrameEncoder.appendHeader(.text, length: length, into: &out)
            #expect(out.count == headerBytes)
            #expect(out[1] & 0x80 == 0, "server frames are not masked")
        }
    }

    /// What the server writes, a client-side parser reads back (the load client and tests use it).
    @Test func serverFramesRoundTrip() throws {
        var parser = WebSocketParser(maxMessageBytes: 1 << 20, peer: .server)
        parser.append(WebSocketFrameEncoder.frame(.text, payload: Array("{\"data\":[]}".utf8)))
        parser.append(WebSocketFrameEncoder.frame(.close, payload: WebSocketFrameEncoder.closePayload(.serviceRestart, reason: "restart")))
        #expect(try parser.next() == .text(Array("{\"data\":[]}".utf8)))
        #expect(try parser.next() == .close(.serviceRestart, reason: "restart"))
    }
}
