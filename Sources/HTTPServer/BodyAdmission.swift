import HTTP1

/// What the server may read of a request's body, decided from its head alone, before any body
/// byte is buffered and before `100 Continue` is sent.
///
/// This is how a request without a valid key costs almost nothing: the application looks at the
/// head (the route, the `Authorization` header) and either rejects it at once, or lets only a
/// small body in.
public struct BodyAdmission: Sendable {
    /// The most body bytes to read; nil for the server's own limit.
    public var maxBytes: Int?
    /// Answered at once instead of reading the body; the connection then closes.
    public var rejection: HTTPResponse?
    /// Answered when the body turns out larger than `maxBytes` (413 when nil).
    public var overLimit: HTTPResponse?
    /// Who the caller is, when deciding needed it (the application's principal for a checked
    /// key): handed to the handler as ``Request/admittedIdentity``, so a key is checked once.
    public var identity: (any Sendable)?
    /// The router's choice of route, made while admitting, kept for answering (set by ``Router``).
    var resolution: Router.Resolution?

    public init(maxBytes: Int? = nil, rejection: HTTPResponse? = nil, overLimit: HTTPResponse? = nil) {
        self.maxBytes = maxBytes
        self.rejection = rejection
        self.overLimit = overLimit
    }

    /// Read up to the server's limit.
    public static let serverLimit = BodyAdmission()

    public static func limit(_ maxBytes: Int, overLimit: HTTPResponse? = nil) -> BodyAdmission {
        BodyAdmission(maxBytes: maxBytes, overLimit: overLimit)
    }

    public static func reject(_ response: HTTPResponse) -> BodyAdmission { BodyAdmission(rejection: response) }
}
