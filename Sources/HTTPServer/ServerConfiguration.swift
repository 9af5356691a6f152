import HTTP1

/// Limits and timeouts of the HTTP server. Defaults follow SPEC §12.
public struct ServerConfiguration: Sendable {
    /// Address to bind: an IPv4/IPv6 literal or `localhost`.
    public var host: String
    /// Port to bind; 0 picks a free one (read it back from ``HTTPServer/port``).
    public var port: Int
    public var limits: ParserLimits
    /// Absolute deadline for a whole request head, from its first byte (defeats slowloris, which
    /// trickles one byte at a time and would reset a per-read timer forever).
    public var headTimeout: Duration
    /// How long an idle keep-alive connection (or a new one that sent nothing) may stay open.
    public var idleTimeout: Duration
    /// Longest pause between body bytes.
    public var bodyTimeout: Duration
    /// Longest a whole body may take, however steadily it trickles.
    public var bodyDeadline: Duration
    /// Slowest average body rate, from `minimumRateGrace` after the head; 0 for none.
    public var minimumBodyBytesPerSecond: Int
    public var minimumRateGrace: Duration
    /// Request body bytes held in memory across all connections at once; past it, requests get 503.
    public var maxBufferedBodyBytes: Int
    /// Open connections from one client address; past it, that address gets 503.
    public var maxConnectionsPerClient: Int
    /// Longest pause while the peer is not reading our response.
    public var writeTimeout: Duration
    /// Open connections beyond this are answered 503 and closed.
    public var maxConnections: Int
    /// After an error response: how long to drain the peer's input before closing (RFC 9112 §9.6).
    public var lingerTimeout: Duration
    /// Renders the server's own errors (400/408/413/431/503/…), so the application can use its
    /// error shape; plain text by default.
    public var render: ErrorRenderer
    /// The event loops the server's connections run on.
    public var loops: EventLoopGroup = .shared

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        limits: ParserLimits = ParserLimits(),
        headTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(15),
        bodyTimeout: Duration = .seconds(30),
        bodyDeadline: Duration = .seconds(300),
        minimumBodyBytesPerSecond: Int = 0,
        minimumRateGrace: Duration = .seconds(5),
        maxBufferedBodyBytes: Int = 256 * 1024 * 1024,
        maxConnectionsPerClient: Int = .max,
        writeTimeout: Duration = .seconds(30),
        maxConnections: Int = 1024,
        lingerTimeout: Duration = .seconds(2),
        render: @escaping ErrorRenderer = ServerConfiguration.plainTextError
    ) {
        self.host = host
        self.port = port
        self.limits = limits
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.bodyDeadline = bodyDeadline
        self.minimumBodyBytesPerSecond = minimumBodyBytesPerSecond
        self.minimumRateGrace = minimumRateGrace
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.writeTimeout = writeTimeout
        self.maxConnections = maxConnections
        self.lingerTimeout = lingerTimeout
        self.render = render
    }

    /// `<code>: <message>` as text: the server has no error shape of its own.
    public static let plainTextError: ErrorRenderer = { status, code, message in
        .text(status, "\(code): \(message)\n")
    }
}
