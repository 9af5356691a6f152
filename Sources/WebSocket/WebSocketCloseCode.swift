/// Close status codes (RFC 6455 §7.4) this server sends, and which ones a peer may send.
public struct WebSocketCloseCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let normal = WebSocketCloseCode(rawValue: 1000)
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    public static let internalError = WebSocketCloseCode(rawValue: 1011)
    /// The server is overloaded for now (too many messages held in memory).
    public static let tryAgainLater = WebSocketCloseCode(rawValue: 1013)
    /// The server restarts; clients should reconnect (SPEC §15: what SIGTERM sends).
    public static let serviceRestart = WebSocketCloseCode(rawValue: 1012)

    /// Whether a peer may put this code in a close frame: 1000–1003, 1007–1011 (and the
    /// registered 1012–1014), 3000–4999. 1004–1006 and 1015 are reserved for local use and must
    /// never be sent (RFC 6455 §7.4.1, Autobahn case 7.9).
    public var isValidOnTheWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    public var description: String { String(rawValue) }
}
