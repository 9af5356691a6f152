import HTTP1

/// Answers requests. `respond` may call `completion` synchronously (the fast path: no thread hop)
/// or later from any thread; it must call it exactly once.
public protocol Responder: Sendable {
    /// Decides from the head alone how much of the body may be read (see ``BodyAdmission``).
    /// Called on the connection's queue before any body byte is buffered; must not block.
    func admit(_ head: HTTPRequestHead) -> BodyAdmission
    func respond(to request: Request, completion: @escaping @Sendable (HTTPResponse) -> Void)
}

extension Responder {
    public func admit(_ head: HTTPRequestHead) -> BodyAdmission { .serverLimit }
}
