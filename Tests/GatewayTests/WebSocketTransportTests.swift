import Domain
import Foundation
import Gateway
import HTTP1
import TestSupport
import Testing
import WebSocket

/// The Runware WebSocket transport on the real server (SPEC §15): handshake refusals, close
/// codes, authentication and sessions, tasks through the REST code, and pushes.
@Suite("WebSocket transport", .timeLimit(.minutes(2)), .stopsGateways)
struct WebSocketTransportTests {
    static func videoTask(_ uuid: String = UUID().uuidString.lowercased(), _ extra: [String: JSONValue] = [:]) -> (String, String) {
        var task: [String: JSONValue] = ["taskType": "videoInference", "taskUUID": .string(uuid), "model": "reelgate:simulator@1",
                                         "positivePrompt": "a lighthouse at dusk", "deliveryMethod": "async"]
        task.merge(extra) { $1 }
        return (uuid, JSONValue.array([.object(task)]).serialized())
    }

    // MARK: Handshake

    @Test func handshakeRefusals() async throws {
        let gw = try await TestGateway.start()
        func handshake(_ headers: String, path: String = "/v1") async throws -> RawResponse {
            let client = try RawHTTPClient(port: gw.port)
            try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\(headers)\r\n")
            return try await client.readResponse()
        }
        let plain = try await handshake("")
        #expect(plain.status == 426)
        #expect(plain.headers["upgrade"] == "websocket")
        #expect(String(decoding: plain.body, as: UTF8.self).contains("\"code\":\"upgradeRequired\""))

        let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        let oldVersion = try await handshake(upgrade + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n")
        #expect(oldVersion.status == 426)
        #expect(oldVersion.headers["sec-websocket-version"] == "13")

        let badKey = try await handshake(upgrade + "Sec-WebSocket-Key: not-base64-16\r\nSec-WebSocket-Version: 13\r\n")
        #expect(badKey.status == 400)
        #expect(String(decoding: badKey.body, as: UTF8.self).contains("invalidWebSocketHandshake"))
        let noKey = try await handshake(upgrade + "Sec-WebSocket-Version: 13\r\n")
        #expect(noKey.status == 400)

        // Both paths upgrade; POST still is REST.
        for path in ["/v1", "/"] {
            let client = try await WebSocketTestClient(port: gw.port, path: path)
            #expect(try await client.authenticate(TestGateway.alice).count == 36)
        }
        #expect(try await gw.submit().1.status == 200)
    }

    // MARK: Close codes

    @Test func protocolErrorsCloseWithTheirCodes() async throws {
        let gw = try await TestGateway.start { $0.server.websocket.maxMessageBytes = 4096 }
        // 1002: an unmasked client frame.
        let unmasked = try await WebSocketTestClient(port: gw.port)
        try await unmasked.raw.send(WebSocketFrameEncoder.frame(.text, payload: Array("[]".utf8)))
        #expect(try await unmasked.expectClose().code == .protocolError)
        #expect(try await unmasked.raw.waitForClose())
        // 1003: a binary message.
        let binary = try await WebSocketTestClient(port: gw.port)
        try await binary.send(.binary, [1, 2, 3])
        #expect(try await binary.expectClose().code == .unsupportedData)
        // 1007: invalid UTF-8, refused at the bad byte though the frame is not complete.
        let utf8 = try await WebSocketTestClient(port: gw.port)
        var frame = WebSocketFrameEncoder.frame(.text, payload: [0x5B, 0xED, 0xA0, 0x80] + [UInt8](repeating: 0x20, count: 500), maskingKey: [1, 2, 3, 4])
        frame.removeLast(400)
        try await utf8.raw.send(frame)
        #expect(try await utf8.expectClose().code == .invalidPayload)
        // 1009: over server.websocket.maxMessageBytes (after authentication; before it, the
        // unauthenticated limit applies).
        let big = try await WebSocketTestClient(port: gw.port)
        _ = try await big.authenticate(TestGateway.alice)
        try await big.sendText("[" + String(repeating: " ", count: 5000) + "]")
        #expect(try await big.expectClose().code == .messageTooBig)
        // A close is echoed with its code.
        let polite = try await WebSocketTestClient(port: gw.port)
        try await polite.send(.close, WebSocketFrameEncoder.closePayload(WebSocketCloseCode(rawValue: 4000), reason: "done"))
        #expect(try await polite.expectClose().code == WebSocketCloseCode(rawValue: 4000))
    }

    @Test func aBadKeyGetsAnAuthenticationErrorThenClose1008() async throws {
        let gw = try await TestGateway.start()
        let client = try await WebSocketTestClient(port: gw.port)
        let sent = ContinuousClock.now
        try await client.sendText(#"[{"taskType":"authentication","apiKey":"not-a-key-at-all-000000"}]"#)
        let reply = try await client.nextJSON()
        #expect(reply["errors"]?[0]?["code"] == "invalidApiKey")
        #expect(reply["errors"]?[0]?["taskType"] == "authentication")
        #expect(reply["data"] == nil)
        #expect(try await client.expectClose().code == .policyViolation)
        // The server waits a second between the error and the close; both come after the send.
        #expect(ContinuousClock.now - sent >= .milliseconds(950), "the close comes about a second after the error")
    }

    // MARK: Authentication and sessions

    @Test func tasksBeforeAuthenticationAreRefusedAndNotCreated() async throws {
        // A socket must authenticate within the head timeout; a loaded machine must not turn
        // this test into that one (which is tested on its own).
        let gw = try await TestGateway.start { $0.server.headTimeoutSeconds = 120 }
        let client = try await WebSocketTestClient(port: gw.port)
        let (uuid, task) = Self.videoTask()
        try await client.sendText(task)
        let reply = try await client.nextJSON()
        #expect(reply["errors"]?[0]?["code"] == "missingApiKey")
        #expect(reply["errors"]?[0]?["taskUUID"] == .string(uuid))
        #expect(reply["errors"]?[0]?["taskType"] == "videoInference", "not authentication: that would read as a failed login")
        try await client.sendText(#"[{"taskType":"ping","ping":true}]"#)
        #expect(try await client.nextJSON() == ["data": [["taskType": "ping", "pong": true]]])
        #expect(try await gw.getResponse(uuid).errors.first?["code"] == "taskNotFound")
        // Frame-level pings are answered with the same payload.
        try await client.send(.ping, Array("hb".utf8))
        #expect(try await client.next() == .pong(Array("hb".utf8)))
    }

    /// WebSocket connections count against the connection cap like any other.
    @Test func socketsCountAgainstTheConnectionCap() async throws {
        let gw = try await TestGateway.start {
            $0.server.maxConnections = 3
            $0.server.maxConnectionsPerClient = 3
        }
        var sockets: [WebSocketTestClient] = []
        for _ in 0..<3 {
            let socket = try await WebSocketTestClient(port: gw.port)
            _ = try await socket.authenticate(TestGateway.alice)
            sockets.append(socket)
        }
        let refused = try await gw.request("GET", "/healthz", key: nil)
        #expect(refused.status == 503)
        for socket in sockets { socket.raw.close() }
        // Closing frees the slots once the server has seen the FINs: retry until it has.
        var reopened: WebSocketTestClient?
        for _ in 0..<250 where reopened == nil {
            reopened = try? await WebSocketTestClient(port: gw.port)
            if reopened == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(reopened != nil)
    }

    /// A flood of pings costs a pong per read, not per ping; the last ping is always answered.
    @Test func pingsReadTogetherGetOnePong() async throws {
        let gw = try await TestGateway.start()
        let client = try await WebSocketTestClient(port: gw.port)
        var flood: [UInt8] = []
        for i in 0..<2000 { WebSocketFrameEncoder.appendFrame(.ping, payload: Array("\(i)".utf8), maskingKey: [1, 2, 3, 4], into: &flood) }
        try await client.raw.send(flood)
        try await client.sendText(#"[{"taskType":"ping","ping":true}]"#)
        var pongs: [[UInt8]] = []
        while true {
            switch try await client.next() {
            case .pong(let payload): pongs.append(payload)
            case .text: break
            default: continue
            }
            if pongs.last == Array("1999".utf8) { break }
        }
        #expect(pongs.count < 200, "\(pongs.count) pongs for 2,000 pings")
    }

    @Test func sessionsResumeWithTheSameKeyOnly() async throws {
        let gw = try await TestGateway.start()
        let first = try await WebSocketTestClient(port: gw.port)
        let session = try await first.authenticate(TestGateway.alice)
        first.raw.close()
        let again = try await WebSocketTestClient(port: gw.port)
        #expect(try await again.authenticate(TestGateway.alice, resume: session) == session)
        let other = try await WebSocketTestClient(port: gw.port)
        let bobs = try await other.authenticate(TestGateway.bob, resume: session)
        #expect(bobs != session, "another key's session is never resumed")
        // Authenticating again on the same socket with the same key keeps its session.
        try await again.sendText(#"[{"taskType":"authentication","apiKey":"\#(TestGateway.alice)"}]"#)
        #expect(try await again.nextJSON()["data"]?[0]?["connectionSessionUUID"] == .string(session))
        let unknown = try await WebSocketTestClient(port: gw.port)
        #expect(try await unknown.authenticate(TestGateway.alice, resume: "00000000-0000-4000-8000-000000000000") != session)
    }

    // MARK: Tasks and pushes

    @Test func aSubmittedTaskIsAckedThenPushedWithoutPolling() async throws {
        let gw = try await TestGateway.start()
        let client = try await WebSocketTestClient(port: gw.port)
        _ = try await client.authenticate(TestGateway.alice)
        let (uuid, task) = Self.videoTask(UUID().uuidString.lowercased(), ["numberResults": 2])
        try await client.sendText(task)
        #expect(try await client.nextJSON() == ["data": [["taskType": "videoInference", "taskUUID": .string(uuid)]]])
        let pushed = try await client.nextJSON()
        let items = pushed["data"]?.array ?? []
        #expect(items.count == 2)
        #expect(items.allSatisfy { $0["status"] == "success" && $0["taskUUID"] == .string(uuid) && $0["videoURL"]?.string != nil })
        #expect(Set(items.compactMap { $0["videoUUID"]?.string }).count == 2)
        // The same as getResponse answers.
        #expect(try await gw.getResponse(uuid).data == items)
        // A resubmission of the same task (an SDK after a reconnect) is its ACK again, then the
        // finished results at once; a changed one conflicts.
        try await client.sendText(task)
        #expect(try await client.nextJSON() == ["data": [["taskType": "videoInference", "taskUUID": .string(uuid)]]])
        #expect(try await client.nextJSON()["data"]?.array == items)
        try await client.sendText(Self.videoTask(uuid, ["numberResults": 3]).1)
        let conflict = try await client.nextJSON()
        #expect(conflict["errors"]?[0]?["code"] == "conflictTaskUUID")
        #expect(conflict["errors"]?[0]?["taskUUID"] == .string(uuid))

        let metrics = try await gw.request("GET", "/metrics", key: nil).body.string ?? ""
        for line in ["reelgate_websocket_connections 1", "reelgate_websocket_sessions{state=\"attached\"} 1",
                     "reelgate_websocket_sessions_total{outcome=\"new\"} 1", "reelgate_websocket_pushes_total 2",
                     "reelgate_websocket_messages_total{direction=\"in\"} 4"] {
            #expect(metrics.contains(line), "\(line) not in /metrics")
        }
    }

    @Test func errorsCarryTheirTaskUUIDAndTenancyHolds() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit(key: TestGateway.alice)
        let bob = try await WebSocketTestClient(port: gw.port)
        _ = try await bob.authenticate(TestGateway.bob)
        try await bob.sendText(#"[{"taskType":"getResponse","taskUUID":"\#(uuid)"}]"#)
        let notFound = try await bob.nextJSON()
        #expect(notFound["errors"]?[0]?["code"] == "taskNotFound")
        #expect(notFound["errors"]?[0]?["taskUUID"] == .string(uuid))
        let bad = UUID().uuidString.lowercased()
        try await bob.sendText(Self.videoTask(bad, ["duration": 99]).1)
        let invalid = try await bob.nextJSON()
        #expect(invalid["errors"]?[0]?["code"]?.string?.hasPrefix("invalid") == true)
        #expect(invalid["errors"]?[0]?["taskUUID"] == .string(bad))
        try await bob.sendText("not json")
        #expect(try await bob.nextJSON()["errors"]?[0]?["code"] == "invalidJSON")
    }

    @Test func aResumedSessionIsPushedWhatFinishedWhileAway() async throws {
        let gw = try await TestGateway.start { $0.providers.simulator.latencySeconds = 0.5 }
        let first = try await WebSocketTestClient(port: gw.port)
        let session = try await first.authenticate(TestGateway.alice)
        let (uuid, task) = Self.videoTask()
        try await first.sendText(task)
        _ = try await first.nextJSON()  // the ACK
        first.raw.close()
        _ = try await gw.waitUntilDone(uuid)
        let second = try await WebSocketTestClient(port: gw.port)
        #expect(try await second.authenticate(TestGateway.alice, resume: session) == session)
        let pushed = try await second.nextJSON()
        #expect(pushed["data"]?[0]?["taskUUID"] == .string(uuid))
        #expect(pushed["data"]?[0]?["status"] == "success")
    }

    @Test func aPollOfAnUnfinishedTaskSubscribesThatSession() async throws {
        // Long enough that a loaded machine still polls before the task finishes.
        let gw = try await TestGateway.start { $0.providers.simulator.latencySeconds = 3 }
        let (uuid, _) = try await gw.submit()
        let client = try await WebSocketTestClient(port: gw.port)
        _ = try await client.authenticate(TestGateway.alice)
        // Polled in upper case: the subscription is the task's, whatever the spelling.
        try await client.sendText(#"[{"taskType":"getResponse","taskUUID":"\#(uuid.uppercased())"}]"#)
        #expect(try await client.nextJSON()["data"]?[0]?["status"] == "processing")
        #expect(try await client.nextJSON()["data"]?[0]?["status"] == "success")
    }

    // MARK: Timeouts and shutdown

    @Test func anIdleSocketIsClosed() async throws {
        let gw = try await TestGateway.start { $0.server.websocket.idleTimeoutSeconds = 0.5 }
        let client = try await WebSocketTestClient(port: gw.port)
        _ = try await client.authenticate(TestGateway.alice)
        let close = try await client.expectClose()
        #expect(close.code == .normal && close.reason == "idle timeout")
    }

    /// A socket that never authenticates holds its connection slot for the HTTP head timeout,
    /// not for a session's idle time.
    @Test func aSocketThatDoesNotAuthenticateIsClosedSooner() async throws {
        let gw = try await TestGateway.start { $0.server.headTimeoutSeconds = 1 }
        let client = try await WebSocketTestClient(port: gw.port)
        let close = try await client.expectClose()
        #expect(close.code == .policyViolation && close.reason == "not authenticated in time")
        // Pinging does not buy an unauthenticated socket more time: the limit is from its upgrade.
        let pinger = try await WebSocketTestClient(port: gw.port)
        let started = ContinuousClock.now
        var pongs = 0
        pinging: while true {
            try await pinger.send(.ping, [1])
            switch try await pinger.next() {
            case .pong: pongs += 1
            case .close(let code, _):
                #expect(code == .policyViolation)
                break pinging
            default: continue
            }
            try await Task.sleep(for: .milliseconds(20))  // the pace of the pings, not a wait for an outcome
        }
        // Pinging every 20 ms, a sliding timeout would never close it; how many pongs came first
        // depends on how loaded the machine is.
        #expect(ContinuousClock.now - started < .seconds(8), "closed after \(pongs) pongs")
    }

    @Test func shutdownSaysServiceRestart() async throws {
        let gw = try await TestGateway.start()
        let client = try await WebSocketTestClient(port: gw.port)
        _ = try await client.authenticate(TestGateway.alice)
        async let stopped: Void = gw.stop()
        #expect(try await client.expectClose().code == .serviceRestart)
        client.raw.close()
        await stopped
    }

    /// A client that sends and never reads is no longer read once its answers fill the socket:
    /// the server holds one answer at a time, not all of them. Each poll asks for a video inline
    /// (tens of kilobytes of base64 for a 60-byte request), so a server that kept reading would
    /// pile up gigabytes; this one stops, and the client's sends stall.
    @Test func aClientThatDoesNotReadIsNotRead() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit(["outputType": "base64Data"])
        _ = try await gw.waitUntilDone(uuid)
        let client = try await WebSocketTestClient(port: gw.port)
        _ = try await client.authenticate(TestGateway.alice)
        let poll = WebSocketFrameEncoder.frame(
            .text, payload: Array(#"[{"taskType":"getResponse","taskUUID":"\#(uuid)"}]"#.utf8), maskingKey: [9, 9, 9, 9])
        let batch = Array([[UInt8]](repeating: poll, count: 1000).joined())
        var sent = 0
        let limit = 48 << 20
        while sent < limit, await client.raw.send(batch, timeout: 2) { sent += batch.count }
        #expect(sent < limit, "the server kept reading \(sent) bytes from a client that never reads")
        // The socket is still open and the answers are all there, in order, once read.
        for _ in 0..<3 { #expect(try await client.nextJSON()["data"]?[0]?["status"] == "success") }
    }
}
