/// How the body of a request is delimited (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// A parsed request line and header section.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    /// The request target exactly as sent.
    public var target: String
    /// The path part of the target (origin-form), without the query.
    public var path: String
    /// The query part without `?`, if any.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var framing: BodyFraming

    public init(
        method: String, target: String, version: HTTPVersion = .http11, headers: HTTPHeaders = HTTPHeaders(),
        framing: BodyFraming = .none
    ) {
        self.method = method
        self.target = target
        let (path, query) = HTTPRequestHead.split(target: target)
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.framing = framing
    }

    /// Whether the connection may carry another request after this one: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 never (its keep-alive is opt-in and rarely worth the ambiguity).
    public var keepAlive: Bool {
        version == .http11 && !headers.listContains("connection", token: "close")
    }

    /// `Expect: 100-continue` was sent.
    public var expectsContinue: Bool {
        headers.listContains("expect", token: "100-continue")
    }

    /// An `Expect` value other than 100-continue, which the server answers with 417.
    public var hasUnsupportedExpectation: Bool {
        headers.contains { field in
            field.name.equalsASCIICaseInsensitive("expect")
                && field.value.split(separator: ",").contains { !$0.trimmingOWS().equalsASCIICaseInsensitive("100-continue") }
        }
    }

    public var hasBody: Bool {
        switch framing {
        case .none: false
        case .contentLength(let n): n > 0
        case .chunked: true
        }
    }

    static func split(target: String) -> (String, String?) {
        var t = Substring(target)
        // absolute-form: keep only the path and query (RFC 9112 §3.2.2).
        if t.utf8.first != UInt8(ascii: "/"), let colon = t.firstIndex(of: ":") {
            let rest = t[colon...].dropFirst(3)  // "://"
            t = rest.firstIndex(where: { $0 == "/" || $0 == "?" }).map { rest[$0...] } ?? "/"
            if t.first == "?" { t = "/" + t }
        }
        if let q = t.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return (String(t[..<q]), String(t[t.utf8.index(after: q)...]))
        }
        return (String(t), nil)
    }
}
