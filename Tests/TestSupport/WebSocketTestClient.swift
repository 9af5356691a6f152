import Domain
import HTTP1
import WebSocket

/// A WebSocket client over a raw TCP socket, for tests that must send what real clients would
/// not (bad frames, bad handshakes) and see exactly what the server answers.
public final class WebSocketTestClient: @unchecked Sendable {
    public let raw: RawHTTPClient
    private var parser = WebSocketParser(maxMessageBytes: 1 << 30, peer: .server)
    private static let mask: [UInt8] = [0x11, 0x22, 0x33, 0x44]

    /// Connects and completes the opening handshake on `path`.
    public init(port: Int, path: String = "/v1", readTimeout: Double = 10) async throws {
        raw = try RawHTTPClient(port: port, readTimeout: readTimeout)
        try await raw.send(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let response = try await raw.readResponse()
        guard response.status == 101, response.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" else {
            throw RawClientError("handshake refused: \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        }
    }

    /// Sends one masked frame.
    public func send(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) async throws {
        try await raw.send(WebSocketFrameEncoder.frame(opcode, payload: payload, fin: fin, maskingKey: Self.mask))
    }

    public func sendText(_ text: String) async throws { try await send(.text, Array(text.utf8)) }

    /// The next frame-level event from the server: a message, a pong, or its close.
    public func next() async throws -> WebSocketEvent {
        while true {
            if let event = try parser.next() { return event }
            parser.append(try await raw.readSome())
        }
    }

    /// The next text message as JSON (pongs skipped).
    public func nextJSON() async throws -> JSONValue {
        while true {
            switch try await next() {
            case .text(let bytes): return try JSONParser.parse(bytes)
            case .close(let code, let reason):
                let number = code.map { String($0.rawValue) } ?? "-"
                throw RawClientError("closed \(number) \(reason)")
            default: continue
            }
        }
    }

    /// Sends an authentication message and returns the session UUID the server answered.
    public func authenticate(_ key: String, resume: String? = nil) async throws -> String {
        var task: [String: JSONValue] = ["taskType": "authentication", "apiKey": .string(key)]
        if let resume { task["connectionSessionUUID"] = .string(resume) }
        try await sendText(JSONValue.array([.object(task)]).serialized())
        let reply = try await nextJSON()
        guard let uuid = reply["data"]?[0]?["connectionSessionUUID"]?.string else { throw RawClientError("no session: \(reply.serialized())") }
        return uuid
    }

    /// The server's close frame (after any messages), and whether the socket then closed.
    public func expectClose() async throws -> (code: WebSocketCloseCode?, reason: String) {
        while true {
            if case .close(let code, let reason) = try await next() { return (code, reason) }
        }
    }
}
