import HTTP1

/// What a connection hands its requests to.
///
/// Both methods run on the connection's executor (its ``EventLoop``): `admit` synchronously,
/// before a body byte is buffered; `respond` as a `nonisolated(nonsending)` async function,
/// entered without an executor switch, that may suspend (a store call) and comes back there.
/// `respond` never throws: errors are rendered into responses once, by the responder (the
/// ``Router``).
public protocol Responder: Sendable {
    /// Decides from the head alone how much of the body may be read (see ``BodyAdmission``).
    func admit(_ head: HTTPRequestHead) -> BodyAdmission
    nonisolated(nonsending) func respond(to request: Request) async -> Reply
}

extension Responder {
    public func admit(_ head: HTTPRequestHead) -> BodyAdmission { .serverLimit }
}

/// An error that knows how it looks to a client: handlers throw these, and the router renders
/// them, so the status of an error is decided in one place, by the error.
public protocol HTTPResponseError: Error {
    var response: HTTPResponse { get }
}

/// Told about every request a router answered, for metrics and logs.
public protocol RequestObserver: Sendable {
    /// `route` is the matched pattern (`/v1/tasks/:id`), or nil when no route matched.
    func requestFinished(method: String, route: String?, status: Int, seconds: Double)
    /// A handler threw something that is not an ``HTTPResponseError``: a bug or an outage. The
    /// client got a generic 500; the detail belongs in the log.
    func handlerFailed(method: String, route: String, error: any Error)
}

/// Renders the server's own errors (400, 404, 408, 413, 500, 503, …): the application gives its
/// error shape; the default is plain text.
public typealias ErrorRenderer = @Sendable (_ status: HTTPStatus, _ code: String, _ message: String) -> HTTPResponse
