import Domain
import Foundation
import Gateway
import TestSupport
import Testing

/// Two gateways on one PostgreSQL database (SPEC §16): either answers for any task, the task runs
/// once, and the readiness of each follows the database.
@Suite("Shared database", .timeLimit(.minutes(2)), .stopsGateways, .needsPostgres)
struct SharedDatabaseTests {
    @Test func twoGatewaysServeEachOthersTasks() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let url = database.url.conninfo
        let shared = TempDirectory("reelgate-shared-media")
        defer { shared.remove() }
        let a = try await TestGateway.start { $0.database.url = url; $0.media.directory = shared.path }
        let b = try await TestGateway.start { $0.database.url = url; $0.media.directory = shared.path }
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
        // A's video through B's media URL (B reads the shared file A's worker or B's wrote).
        let videoURL = try #require(done.data.first?["videoURL"]?.string)
        let fromA = try await a.fetch(String(videoURL.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        let fromB = try await b.fetch(String(videoURL.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        #expect(fromB.status == 200 && !fromB.body.isEmpty && fromB.body == fromA.body)
    }

    /// An instance whose media directory is not the others' refuses to start, with the reason:
    /// its own disk (it cannot see the first instance's witness), or the shared storage at
    /// another path (results are stored by path).
    @Test func anUnsharedMediaDirectoryIsRefusedAtStart() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let url = database.url.conninfo
        let shared = TempDirectory("reelgate-shared-media"), elsewhere = TempDirectory("reelgate-link")
        defer { shared.remove(); elsewhere.remove() }
        _ = try await TestGateway.start { $0.database.url = url; $0.media.directory = shared.path }
        do {
            _ = try await TestGateway.start { $0.database.url = url }  // dataDir/media: its own
            Issue.record("an instance on its own media directory started")
        } catch {
            #expect("\(error)".contains("mount the shared media storage at the same path"), "\(error)")
        }
        let link = elsewhere.file("media")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: shared.path)
        do {
            _ = try await TestGateway.start { $0.database.url = url; $0.media.directory = link }
            Issue.record("an instance with the shared media at another path started")
        } catch {
            #expect("\(error)".contains("mount the shared media storage at the same path"), "\(error)")
        }
        // Another machine's local disk at the same path: an empty directory where the share was.
        try FileManager.default.moveItem(atPath: shared.path, toPath: elsewhere.file("share"))
        try FileManager.default.createDirectory(atPath: shared.path, withIntermediateDirectories: false)
        do {
            _ = try await TestGateway.start { $0.database.url = url; $0.media.directory = shared.path }
            Issue.record("an instance on an unshared directory at the same path started")
        } catch {
            #expect("\(error)".contains("witness file") && "\(error)".contains("is missing"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: shared.path)
        try FileManager.default.moveItem(atPath: elsewhere.file("share"), toPath: shared.path)
        // The same directory again is fine (a restart, a second replica).
        _ = try await TestGateway.start { $0.database.url = url; $0.media.directory = shared.path }
    }
}

/// The database becoming unreachable, through a relay the test cuts: readiness fails and submits
/// get 503 with Retry-After (never an ACK for a task that is not stored); once it is back the
/// gateway is ready again and the same submit is accepted, once.
@Suite("Unreachable database", .timeLimit(.minutes(2)), .stopsGateways, .needsPostgres)
struct UnreachableDatabaseTests {
    @Test func readinessAndSubmitsFollowTheDatabase() async throws {
        let database = try await PostgresTestDatabase.create()
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
