import Domain
import Foundation
@testable import Gateway
import Postgres
import SQLite
import TestSupport
import Testing

/// `reelgate migrate-store`: a SQLite data dir's tasks, results, event logs and signing key move
/// into an empty PostgreSQL, and a gateway there carries on: finished tasks answer as before
/// (their old media links included), an unfinished one is resumed and finishes.
@Suite("migrate-store", .timeLimit(.minutes(2)), .stopsGateways, .needsPostgres)
struct StoreMigrationTests {
    @Test func aSQLiteDataDirMovesToPostgreSQL() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let kept = TempDirectory("reelgate-migrate")
        defer { kept.remove() }
        let old = try await TestGateway.start { $0.dataDir = kept.path; $0.providers.simulator.latencySeconds = 0.2 }
        let (done, _) = try await old.submit(["numberResults": 2])
        let before = try await old.waitUntilDone(done)
        let oldLink = try #require(before.data.first?["videoURL"]?.string)
        let oldVideo = try await old.fetch(String(oldLink.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        let oldEvents = try await old.request("GET", "/v1/tasks/\(done)", key: TestGateway.opsKey).body["events"]?.array?.count

        var migration = Configuration()
        migration.dataDir = kept.path
        migration.database.url = database.url.conninfo
        #expect((try await migrate(migration)) == 1, "refused while a gateway serves from the data dir")

        // One more task, still running upstream when the old gateway stops.
        let (unfinished, _) = try await old.submit(["numberResults": 1])
        await old.stop()
        #expect((try await migrate(migration)) == 0)
        #expect((try await migrate(migration)) == 1, "the target holds tasks now: no second copy")

        let new = try await TestGateway.start {
            $0.database.url = database.url.conninfo
            $0.media.directory = kept.file("media")
        }
        let after = try await new.waitUntilDone(done)
        #expect(after.data.map { $0["videoUUID"] } == before.data.map { $0["videoUUID"] })
        let view = try await new.request("GET", "/v1/tasks/\(done)", key: TestGateway.opsKey)
        #expect(view.body["state"] == "succeeded")
        #expect(view.body["events"]?.array?.count == oldEvents)
        // The link the old gateway handed out still works: same signing key, same file.
        let again = try await new.fetch(String(oldLink.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        #expect(again.status == 200 && again.body == oldVideo.body && !again.body.isEmpty)
        // The task that was under way is resumed and finishes on PostgreSQL.
        let resumed = try await new.waitUntilDone(unfinished)
        #expect(resumed.data.first?["status"] == "success", "\(resumed.body)")
        // A new task gets on with the same key's count.
        let (fresh, _) = try await new.submit()
        #expect(try await new.waitUntilDone(fresh).data.first?["status"] == "success")

        // Into another database with the media moving to shared storage: stored paths follow.
        let second = try await PostgresTestDatabase.create()
        defer { second.drop() }
        var moving = migration
        moving.database.url = second.url.conninfo
        moving.media.directory = "/mnt/shared-media/"
        await new.stop()
        #expect((try await migrate(moving)) == 0)
        let paths = try PostgresConnection(second.url).execute("SELECT media_path FROM results WHERE media_path IS NOT NULL").allRows
            .map { try $0.string("media_path") ?? "" }
        // As many as the source holds: `done`'s two, and `unfinished`'s if it finished before the
        // old gateway stopped (a race this test does not control).
        let sourcePath = kept.file("reelgate.db")
        let stored = try await BlockingIO.run {
            try Database(path: sourcePath).query("SELECT count(*) AS n FROM results WHERE media_path IS NOT NULL").first?["n"].int ?? 0
        }
        #expect(stored >= 2 && paths.count == stored, "\(paths)")
        #expect(paths.allSatisfy { $0.hasPrefix("/mnt/shared-media/") && !$0.contains("//") }, "\(paths)")
    }

    /// The command is synchronous (PostgreSQL connections, copies, fsyncs): on a thread of its own,
    /// not on the suite's cooperative pool.
    func migrate(_ configuration: Configuration) async throws -> Int32 {
        try await OffPool.run { StoreMigrationCommand.run(configuration) }
    }
}
