import Domain
import Store
import HTTP1
import HTTPServer

/// Decides from a request's head how much of its body the server reads (SPEC §12): a request
/// without a valid key costs almost nothing.
///
/// - A key in `Authorization` is checked before the body: a bad one is answered 401 at once.
/// - Without one, only `unauthenticatedBodyBytes` are read (enough for an authentication task
///   and a few small tasks), and `Expect: 100-continue` is answered 401 instead of `100
///   Continue`: the client asked whether to send its body, and without a key it may not.
struct RequestAdmission: Sendable {
    let authenticator: Authenticator
    let unauthenticatedBodyBytes: Int

    /// `POST /v1` and `POST /`, where a key may also come in the body.
    func taskEndpoint(_ head: HTTPRequestHead) -> BodyAdmission {
        if let key = Authenticator.bearer(head.headers["authorization"]) {
            guard let principal = authenticator.authenticate(key) else { return .reject(TaskAPI.authenticationError(.invalidKey)) }
            var admission = BodyAdmission.serverLimit
            admission.identity = principal
            return admission
        }
        if head.expectsContinue { return .reject(TaskAPI.authenticationError(.missingKeyWithExpect)) }
        return .limit(unauthenticatedBodyBytes, overLimit: TaskAPI.authenticationError(.missingKeyForLargeBody(unauthenticatedBodyBytes)))
    }

    /// The OpenAI API's `POST`s (a create may carry an image): a valid key before any body, else
    /// 401 in OpenAI's shape at once.
    func openAIEndpoint(maxBytes: Int?) -> Router.Admission {
        { head in
            guard let key = Authenticator.bearer(head.headers["authorization"]) else { return .reject(OpenAIError.missingKey.response) }
            guard let principal = authenticator.authenticate(key) else { return .reject(OpenAIError.invalidKey.response) }
            let limit = maxBytes.map { "\($0) bytes" } ?? "the server's limit (server.maxBodyBytes)"
            var admission = BodyAdmission(maxBytes: maxBytes, overLimit: OpenAIError(status: 413, "the request body is over \(limit)", code: "request_too_large").response)
            admission.identity = principal
            return admission
        }
    }

    /// Every other route: none takes a body beyond a small one, and none without a key.
    /// A key is checked here and its principal handed on (the handler decides what a missing or
    /// bad one means, since a console session may stand in for it); refused at once only when
    /// it decides something: an `Expect: 100-continue`.
    func otherRoutes(_ head: HTTPRequestHead) -> BodyAdmission {
        var admission = BodyAdmission.limit(unauthenticatedBodyBytes)
        admission.identity = Authenticator.bearer(head.headers["authorization"]).flatMap { authenticator.authenticate($0) }
        if head.expectsContinue, admission.identity == nil { return .reject(APIError.missingKey.response) }
        return admission
    }
}
