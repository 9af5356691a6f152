/// Why the peer's byte stream cannot go on: the connection is closed with ``closeCode``
/// (RFC 6455 §7.1.7, "fail the WebSocket connection").
public struct WebSocketError: Error, Sendable, Equatable, CustomStringConvertible {
    public let closeCode: WebSocketCloseCode
    /// Short and fixed (it goes into the close frame, at most 123 bytes): never peer input.
    public let reason: String

    public init(_ closeCode: WebSocketCloseCode, _ reason: String) {
        self.closeCode = closeCode
        self.reason = reason
    }

    public var description: String { "\(closeCode.rawValue) \(reason)" }

    static let reservedBits = WebSocketError(.protocolError, "reserved bits set without an extension")
    static let unknownOpcode = WebSocketError(.protocolError, "unknown opcode")
    static let unmasked = WebSocketError(.protocolError, "client frames must be masked")
    static let masked = WebSocketError(.protocolError, "server frames must not be masked")
    static let fragmentedControl = WebSocketError(.protocolError, "control frames must not be fragmented")
    static let longControl = WebSocketError(.protocolError, "control frames carry at most 125 bytes")
    static let unexpectedContinuation = WebSocketError(.protocolError, "continuation without a message to continue")
    static let expectedContinuation = WebSocketError(.protocolError, "a new message before the last one ended")
    static let nonMinimalLength = WebSocketError(.protocolError, "payload length not in its shortest form")
    static let lengthTooLarge = WebSocketError(.protocolError, "payload length with the top bit set")
    static let binary = WebSocketError(.unsupportedData, "binary messages are not accepted; send JSON text")
    static let invalidUTF8 = WebSocketError(.invalidPayload, "text is not valid UTF-8")
    static let tooBig = WebSocketError(.messageTooBig, "message too big")
    static let badCloseLength = WebSocketError(.protocolError, "a close payload of one byte")
    static let badCloseCode = WebSocketError(.protocolError, "invalid close code")
    static let afterClose = WebSocketError(.protocolError, "data after the close frame")
}
