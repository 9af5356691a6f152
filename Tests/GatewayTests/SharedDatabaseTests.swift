import Domain
import Foundation
import Gateway
import TestSupport
import Testing

/// Two gateways on one PostgreSQL database (SPEC §16): either answers for any task, the task runs
/// once, and the readiness of each follows the database.
@Suite("Shared database", .timeLimit(.minutes(2)), .stopsGateways,
       .enabled(if: PostgresTestDatabase.serverURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct SharedDatabaseTests {
    @Test func twoGatewaysServeEachOthersTasks() async throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let url = database.url.conninfo
        let a = try await TestGateway.start { $0.database.url = url }
        let b = try await TestGateway.start { $0.database.url = url }
        let (uuid, ack) = try await a.submit(["numberResults": 2])
        #expect(ack.status == 200)
        // Submitted to A, polled from B, to the end.
        let done = try await b.waitUntilDone(uuid)
        #expect(done.data.count == 2 && done.data.allSatisfy { $0["status"] == "success" })
        // The same taskUUID through B is the same task: the original ACK, no second task.
        let (_, again) = try await b.submit(["numberResults": 2], uuid: uuid)
        #expect(again.body == ack.body)
        let log = try await a.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        let claims = log.body["events"]?.array?.filter { $0["detail"]?.string?.hasPrefix("claimed") == true } ?? []
        #expect(claims.count == 1, "run once: \(log.body["events"] ?? .null)")
        #expect(try await a.request("GET", "/readyz", key: nil).status == 200)
        #expect(try await b.request("GET", "/readyz", key: nil).status == 200)
    }
}
