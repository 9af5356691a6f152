/// What a handler answers with: status, headers and a body.
///
/// The body is either bytes in memory (JSON, errors) or a byte range of an open file, which the
/// server sends with `sendfile(2)` so media is never loaded into memory.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// `length` bytes from `offset` of the file at `path`, opened by the server when sending.
        case file(path: String, offset: Int64, length: Int64)

        public var count: Int64 {
            switch self {
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let length): length
            }
        }
    }

    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), bytes: [UInt8]) {
        self.init(status: status, headers: headers, body: .bytes(bytes))
    }

    /// A plain-text response, for the few endpoints that are not JSON (`/metrics`, errors before routing).
    public static func text(_ status: HTTPStatus, _ text: String, contentType: String = "text/plain; charset=utf-8")
        -> HTTPResponse
    {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), bytes: Array(text.utf8))
    }
}
