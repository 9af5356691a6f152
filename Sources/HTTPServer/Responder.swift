import HTTP1

/// Answers requests. `respond` may call `completion` synchronously (the fast path: no thread hop)
/// or later from any thread; it must call it exactly once.
public protocol Responder: Sendable {
    func respond(to request: Request, completion: @escaping @Sendable (HTTPResponse) -> Void)
}
