import HTTP1

/// The opening handshake, server side (RFC 6455 §4.2): whether a request may become a
/// WebSocket, and the `Sec-WebSocket-Accept` that proves the server understood it.
///
/// SHA-1 is passed in: this module is pure protocol code, and the digest comes from libcrypto.
public enum WebSocketHandshake {
    public static let version = "13"
    private static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    public enum Outcome: Sendable, Equatable {
        /// Switch protocols; the value is the client's `Sec-WebSocket-Key`.
        case accept(key: String)
        /// Not an upgrade request at all: 426 with `Upgrade: websocket`.
        case upgradeRequired
        /// A WebSocket version other than 13 (or none): 426 with `Sec-WebSocket-Version: 13`.
        case unsupportedVersion
        /// A malformed handshake: 400, with what is wrong (fixed text, never the peer's bytes).
        case badRequest(String)
    }

    public static func evaluate(_ head: HTTPRequestHead) -> Outcome {
        let headers = head.headers
        guard headers.listContains("upgrade", token: "websocket") else { return .upgradeRequired }
        guard head.method == "GET" else { return .badRequest("the WebSocket handshake must be a GET") }
        guard head.version == .http11 else { return .badRequest("the WebSocket handshake needs HTTP/1.1") }
        guard headers.listContains("connection", token: "upgrade") else {
            return .badRequest("the WebSocket handshake needs Connection: Upgrade")
        }
        guard !head.hasBody else { return .badRequest("the WebSocket handshake has no body") }
        let versions = headers.values("sec-websocket-version")
        guard versions.count == 1, versions[0].trimmingOWS() == version[...] else { return .unsupportedVersion }
        let keys = headers.values("sec-websocket-key")
        guard keys.count == 1 else {
            return .badRequest(keys.isEmpty ? "Sec-WebSocket-Key is missing" : "Sec-WebSocket-Key is repeated")
        }
        let key = String(keys[0].trimmingOWS())
        guard decodedLength(key) == 16 else { return .badRequest("Sec-WebSocket-Key must be 16 bytes in base64") }
        return .accept(key: key)
    }

    /// `base64(SHA-1(key + GUID))` (RFC 6455 §4.2.2 step 5.4).
    public static func acceptValue(for key: String, sha1: ([UInt8]) -> [UInt8]) -> String {
        base64(sha1(Array((key + guid).utf8)))
    }

    /// The headers of the `101 Switching Protocols` answer.
    public static func responseHeaders(key: String, sha1: ([UInt8]) -> [UInt8]) -> HTTPHeaders {
        HTTPHeaders([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", acceptValue(for: key, sha1: sha1))])
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Decoded byte count of canonical, padded base64; nil if it is not that.
    static func decodedLength(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count % 4 == 0 else { return nil }
        let padding = bytes.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        guard padding <= 2 else { return nil }
        for byte in bytes.dropLast(padding) where !alphabet.contains(byte) { return nil }
        return bytes.count / 4 * 3 - padding
    }

    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = UInt32(bytes[i]), b1 = n > 1 ? UInt32(bytes[i + 1]) : 0, b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(n > 1 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
