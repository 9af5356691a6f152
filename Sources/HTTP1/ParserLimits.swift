/// Size limits the parser enforces while bytes arrive, before anything is buffered past them.
public struct ParserLimits: Sendable, Equatable {
    /// Longest request target; longer is 414.
    public var maxRequestTargetBytes: Int
    /// Largest header section (all field lines after the request line); larger is 431.
    public var maxHeaderBytes: Int
    /// Most header fields; more is 431.
    public var maxHeaderCount: Int
    /// Largest body, Content-Length or chunked total; larger is 413.
    public var maxBodyBytes: Int
    /// Longest chunk-size line including extensions.
    public var maxChunkLineBytes: Int
    /// Largest trailer section, which is read and discarded.
    public var maxTrailerBytes: Int

    public init(
        maxRequestTargetBytes: Int = 8 * 1024,
        maxHeaderBytes: Int = 16 * 1024,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 25 * 1024 * 1024,
        maxChunkLineBytes: Int = 1024,
        maxTrailerBytes: Int = 4 * 1024
    ) {
        self.maxRequestTargetBytes = maxRequestTargetBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
        self.maxTrailerBytes = maxTrailerBytes
    }
}
