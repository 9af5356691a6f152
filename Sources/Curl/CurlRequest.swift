/// One outbound HTTP transfer.
public struct CurlRequest: Sendable {
    public enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// Streamed from disk; never read into memory whole.
        case file(path: String)
        /// `length` bytes of a file from `offset` (one part of a multipart upload), streamed.
        case fileRange(path: String, offset: Int64, length: Int64)
    }

    public enum Sink: Sendable {
        /// Kept in memory, at most `maxBytes` (for JSON and error bodies).
        case memory(maxBytes: Int)
        /// Streamed to `path` (created or truncated), at most `maxBytes`, fsynced on success.
        case file(path: String, maxBytes: Int64)
        /// As `file`, but only the body of a response with `status` (any 2xx when nil) goes to the
        /// file; any other (an error document, a whole object where a range was asked for) is
        /// kept in memory, at most 64 KiB, so a reader of the file as it fills never sees it.
        case successFile(path: String, maxBytes: Int64, status: Int? = nil)
        /// As `successFile`, but the body goes to `sink` as it arrives, on the transfer's thread;
        /// nothing is written to disk here.
        case stream(any TransferSink, maxBytes: Int64, status: Int? = nil)
    }

    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Body
    public var sink: Sink
    public var connectTimeout: Duration
    /// Whole-transfer limit; `nil` for none (large media relies on `lowSpeed` instead).
    public var totalTimeout: Duration?
    /// Abort when slower than `bytesPerSecond` for `seconds`.
    public var lowSpeed: (bytesPerSecond: Int, seconds: Int)?
    /// Connect to this address instead of resolving the URL's host (`CURLOPT_RESOLVE`); TLS still
    /// verifies the certificate against the host name. This is how a URL checked against the
    /// private-address rules cannot be re-resolved elsewhere (DNS rebinding).
    public var pinnedAddress: String?
    /// Off by default: following a redirect would skip the URL checks.
    public var followRedirects: Bool

    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: Body = .none,
        sink: Sink = .memory(maxBytes: 8 << 20), connectTimeout: Duration = .seconds(10),
        totalTimeout: Duration? = .seconds(60), lowSpeed: (bytesPerSecond: Int, seconds: Int)? = nil,
        pinnedAddress: String? = nil, followRedirects: Bool = false
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.sink = sink
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.lowSpeed = lowSpeed
        self.pinnedAddress = pinnedAddress
        self.followRedirects = followRedirects
    }

    /// Host and port of `url`, for pinning and for error messages.
    public var hostAndPort: (host: String, port: Int)? { URLParts(url)?.hostAndPort }
}

/// Just enough URL splitting for pinning (scheme, host, port); the URL guard does the strict parse.
struct URLParts {
    let scheme: String
    let host: String
    let port: Int

    init?(_ url: String) {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = url[schemeEnd.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        var hostPart = Substring(rest)
        var port = scheme == "https" ? 443 : 80
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { return nil }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()) { port = p }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            guard let p = Int(hostPart[hostPart.index(after: colon)...]) else { return nil }
            port = p
            hostPart = hostPart[..<colon]
        }
        host = String(hostPart)
        self.port = port
    }

    var hostAndPort: (host: String, port: Int) { (host, port) }
}

extension String {
    fileprivate func range(of needle: String) -> Range<String.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

/// What came back.
public struct CurlResponse: Sendable {
    public var status: Int
    /// Headers of the final response, in order.
    public var headers: [(name: String, value: String)]
    /// The body, for `.memory` sinks.
    public var body: [UInt8]
    /// Bytes received into the sink.
    public var bodyBytes: Int64
    /// The address actually connected to.
    public var primaryIP: String
    public var totalSeconds: Double
    /// The URL asked for: errors name its host, so a failing media host is not blamed on the API.
    public var url: String = ""

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Takes a response body piece by piece, on the transfer's thread, as libcurl receives it (a
/// relay to a client, say). It may block that thread briefly (back-pressure); the thread count of
/// the ``CurlClient`` is what that costs.
public protocol TransferSink: AnyObject, Sendable {
    /// The next bytes of the body; false aborts the transfer (the receiver went away).
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool
}
