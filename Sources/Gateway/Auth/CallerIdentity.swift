import Domain
import HTTPServer

/// Who is calling an ops or console route: a key in `Authorization: Bearer`, or else a console
/// session cookie (SPEC §17), which must bring its CSRF header for anything that changes state.
/// The task API (`POST /v1`) takes keys only: a browser session cannot submit paid work.
struct CallerIdentity: Sendable {
    let authenticator: Authenticator
    let sessions: ConsoleSessions

    func principal(_ request: Request) async throws -> Principal {
        if let key = Authenticator.bearer(request.headers["authorization"]) {
            // Checked already when the head was admitted, if the route's admission did.
            guard let principal = request.admittedIdentity as? Principal ?? authenticator.authenticate(key) else { throw APIError.invalidKey }
            return principal
        }
        if ConsoleSessions.token(request) != nil {
            guard let session = try await sessions.session(request) else {
                throw APIError(.invalidApiKey, "the console session has ended; sign in again")
            }
            if ConsoleSessions.isUnsafe(request.method) { try ConsoleSessions.checkCSRF(request, session) }
            return session.principal
        }
        throw APIError.missingKey
    }
}
