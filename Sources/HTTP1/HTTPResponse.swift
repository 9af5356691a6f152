/// What a handler answers with: status, headers and a body.
///
/// The body is bytes in memory (JSON, errors), a byte range of an open file, which the server
/// sends with `sendfile(2)` so media is never loaded into memory, or a stream of known length
/// that the server pulls from as the socket drains (a JSON reply carrying base64 video).
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// `length` bytes from `offset` of the file at `path`, opened by the server when sending.
        case file(path: String, offset: Int64, length: Int64)
        /// Exactly `length` bytes, produced piece by piece by `source`.
        case stream(length: Int64, source: any ResponseBodySource)

        public var count: Int64 {
            switch self {
            case .bytes(let b): Int64(b.count)
            case .file(_, _, let length): length
            case .stream(let length, _): length
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

/// A response body produced while it is sent, so its size never has to fit in memory at once.
///
/// The server calls ``next(into:maxBytes:)`` on the connection's queue, one call at a time, until
/// `length` bytes came out; a source that ends early or runs over breaks the framing, and the
/// connection is closed.
public protocol ResponseBodySource: AnyObject, Sendable {
    /// Appends at most `maxBytes` further bytes to `buffer`; appends nothing at the end.
    func next(into buffer: inout [UInt8], maxBytes: Int) throws
    /// Called once when the server is done with it (sent, failed or abandoned).
    func close()
}

/// A source that is still being fed while it is sent (an object arriving from a store): the
/// server waits for ``ready()`` before each ``ResponseBodySource/next(into:maxBytes:)``, so that
/// `next` never blocks the connection's queue.
public protocol FilledResponseBodySource: ResponseBodySource {
    /// Returns once `next` has bytes to give, or the source has ended.
    func ready() async throws
}
