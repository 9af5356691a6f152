import Foundation
import HTTP1
import HTTPServer
import SQLite

/// `GET /healthz` (the process answers) and `GET /readyz` (the database takes a write and we are
/// not draining): orchestrators route traffic on the second, restart on the first.
enum HealthRoutes {
    static func register(on router: RouterBuilder, database: DatabasePool, isDraining: @escaping @Sendable () -> Bool) {
        let ok = Array("{\"status\":\"ok\"}".utf8)
        router.get("/healthz") { _ in .jsonBytes(ok) }
        router.add("GET", "/readyz") { _ in
            if isDraining() { return unready("draining") }
            do {
                try await database.write { db in
                    try db.execute("UPDATE health SET checked_at = ? WHERE id = 1", [Date().timeIntervalSince1970])
                }
                return .jsonBytes(Array("{\"status\":\"ready\"}".utf8))
            } catch {
                return unready("database not writable: \(error)")
            }
        }
    }

    private static func unready(_ reason: String) -> HTTPResponse {
        var response = HTTPResponse.json(["status": "unavailable", "reason": reason], status: .serviceUnavailable)
        response.headers.add(name: "Retry-After", value: "1")
        return response
    }
}
