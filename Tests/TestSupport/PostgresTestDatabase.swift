import Foundation
import Postgres

/// A database of its own for one test on the throwaway cluster `make test` starts
/// (Tests/support/with-postgres.sh, which names it in REELGATE_TEST_DATABASE_URL). Dropped by
/// ``drop()``; whatever is left goes with the cluster at the end of the run.
public struct PostgresTestDatabase: Sendable {
    /// The cluster, or nil when the tests run without one (the PostgreSQL suites are then off).
    public static let serverURL = ProcessInfo.processInfo.environment["REELGATE_TEST_DATABASE_URL"].map(PostgresURL.init)

    public let url: PostgresURL
    private let name: String

    public init() throws {
        guard let server = Self.serverURL, let slash = server.conninfo.lastIndex(of: "/") else {
            throw PostgresError(.connection, message: "REELGATE_TEST_DATABASE_URL is not set (make test starts a cluster)")
        }
        name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try PostgresConnection(server).execute("CREATE DATABASE \(name)")
        url = PostgresURL(String(server.conninfo[...slash]) + name)
    }

    /// Creates one off the cooperative pool (CREATE DATABASE copies a template and syncs it).
    public static func create() async throws -> PostgresTestDatabase {
        try await OffPool.run { try PostgresTestDatabase() }
    }

    /// Drops it in the background: called from a synchronous `defer`, and a forced drop waits
    /// for the database's sessions to end, which must not hold a thread of the cooperative pool.
    public func drop() {
        guard let server = Self.serverURL else { return }
        let name = self.name
        OffPool.detach { _ = try? PostgresConnection(server).execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
    }
}
