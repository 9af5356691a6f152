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

/// The database becoming unreachable, through a relay the test cuts: readiness fails and submits
/// get 503 with Retry-After (never an ACK for a task that is not stored); once it is back the
/// gateway is ready again and the same submit is accepted, once.
@Suite("Unreachable database", .timeLimit(.minutes(2)), .stopsGateways,
       .enabled(if: PostgresTestDatabase.serverURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct UnreachableDatabaseTests {
    @Test func readinessAndSubmitsFollowTheDatabase() async throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        // postgres://user:pass@127.0.0.1:PORT/db → the same through the relay.
        let direct = database.url.conninfo
        let hostPort = try #require(direct.split(separator: "@").last?.split(separator: "/").first)
        let port = try #require(Int(hostPort.split(separator: ":").last ?? ""))
        let relay = try TCPRelay(to: "127.0.0.1", port: port)
        defer { relay.stop() }
        let relayed = direct.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:\(relay.port)")
        let gw = try await TestGateway.start { $0.database.url = relayed }
        #expect(try await gw.request("GET", "/readyz", key: nil).status == 200)

        relay.cut()
        #expect(try await gw.request("GET", "/readyz", key: nil).status == 503)
        let uuid = UUID().uuidString.lowercased()
        let (_, refused) = try await gw.submit(uuid: uuid)
        #expect(refused.status == 503)
        #expect(refused.headers["retry-after"] != nil)
        #expect(refused.errors.first?["taskUUID"] == .string(uuid))
        #expect(refused.data.isEmpty, "no ACK for a task that is not stored")

        relay.restore()
        var ready = false
        for _ in 0..<300 where !ready {  // the pool reconnects after its backoff (at most 5 s)
            ready = try await gw.request("GET", "/readyz", key: nil).status == 200
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ready)
        let (_, accepted) = try await gw.submit(uuid: uuid)
        #expect(accepted.status == 200 && accepted.data.first?["taskUUID"] == .string(uuid))
        let (_, again) = try await gw.submit(uuid: uuid)
        #expect(again.body == accepted.body)
    }
}
