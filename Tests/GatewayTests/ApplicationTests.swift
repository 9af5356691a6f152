import Domain
import Foundation
import Synchronization
import TestSupport
import Testing
@testable import Gateway

/// Without `.stopsGateways`: its scope would hold the test's gateway until the test ends.
@Suite("Application")
struct ApplicationTests {
    /// What a gateway held, as weak references: a stopped one must hold on to nothing.
    final class Held: Sendable {
        private struct Weak { weak var object: AnyObject? }
        private let objects: Mutex<[(name: String, weak: Weak)]>
        init(_ app: Application) {
            let held: [(String, AnyObject)] = [
                ("application", app), ("server", app.server), ("router", app.router), ("store", app.store as AnyObject), ("workers", app.workers),
                ("deliveries", app.deliveries), ("janitor", app.janitor), ("sessions", app.sessions), ("metrics", app.metrics),
            ]
            objects = Mutex(held.map { (name: $0.0, weak: Weak(object: $0.1)) })
        }
        var alive: [String] { objects.withLock { $0.filter { $0.weak.object != nil }.map { $0.name } } }
    }

    /// A stopped gateway is released with its store, and so with the descriptors of its database:
    /// a process that restarts its gateway (or a test run of hundreds) must not keep each old one.
    /// (Readiness once held the server through the routes the server holds: a cycle.)
    @Test func aStoppedGatewayLetsGoOfItsStoreAndDescriptors() async throws {
        try await Self.expectReleasedAfterStop { _ in }
    }

    /// The same on PostgreSQL, where the store's listener for other instances' work held the
    /// workers that hold the store (and with it a pool of database connections).
    @Test(.needsPostgres) func aStoppedGatewayOnPostgreSQLLetsGoOfItsStore() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let url = database.url.conninfo
        try await Self.expectReleasedAfterStop { $0.database.url = url }
    }

    static func expectReleasedAfterStop(_ configure: @escaping @Sendable (inout Configuration) -> Void) async throws {
        var gateway: TestGateway? = try await TestGateway.start(configure)
        do {
            let (uuid, _) = try await gateway!.submit()
            _ = try await gateway!.waitUntilDone(uuid)
        } catch {
            await gateway?.stop()
            throw error
        }
        let held = Held(gateway!.app)
        let directory = gateway!.dir.path
        let descriptors = { TestGateway.openDescriptors(into: directory) }
        #expect(!descriptors().isEmpty, "the running gateway's log (and, on SQLite, database) is open")
        await gateway!.stop()
        gateway = nil
        // Its detached tasks end on their own threads just after stop returns.
        let deadline = Date().addingTimeInterval(10)
        while !held.alive.isEmpty || !descriptors().isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(held.alive.isEmpty, "still alive after stop: \(held.alive)")
        #expect(descriptors().isEmpty, "descriptors still open into its directory: \(descriptors())")
    }
}
