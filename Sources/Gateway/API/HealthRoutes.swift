import Foundation
import HTTP1
import HTTPServer

/// `GET /healthz` (the process answers) and `GET /readyz` (the database takes a write and we are
/// not draining): orchestrators route traffic on the second, restart on the first.
enum HealthRoutes {
    /// - Parameter checkWritable: a write the store makes to prove it can (SPEC §4).
    static func register(
        on router: RouterBuilder, logger: Logger, checkWritable: @escaping @Sendable () async throws -> Void, isDraining: @escaping @Sendable () -> Bool
    ) {
        let ok = Array("{\"status\":\"ok\"}".utf8)
        router.get("/healthz") { _ in .jsonBytes(ok) }
        router.add("GET", "/readyz") { _ in
            if isDraining() { return unready("draining") }
            do {
                try await checkWritable()
                return .jsonBytes(Array("{\"status\":\"ready\"}".utf8))
            } catch {
                // The detail (SQL, errno) is for the log; a probe gets a stable reason.
                logger.error("readiness check failed", ["error": "\(error)"])
                return unready("the database does not take writes")
            }
        }
    }

    private static func unready(_ reason: String) -> HTTPResponse {
        var response = HTTPResponse.json(["status": "unavailable", "reason": reason], status: .serviceUnavailable)
        response.headers.add(name: "Retry-After", value: "1")
        return response
    }
}
