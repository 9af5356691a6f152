import Dispatch
import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

@Suite(.enabled(if: testDatabaseURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct PostgresPoolTests {
    /// Four instances starting at once: the migrations run once, and all see the latest version.
    @Test func migrationsRunOnceWhenInstancesStartTogether() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        var migrator = PostgresMigrator()
        migrator.add("CREATE TABLE log (n integer); CREATE TABLE other (x text)")
        migrator.add("INSERT INTO log VALUES (1)")
        let schema = migrator
        let versions = Mutex<[Int]>([])
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do {
                let version = try schema.migrate(PostgresConnection(database.url))
                versions.withLock { $0.append(version) }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        #expect(errors.withLock { $0 }.isEmpty)
        #expect(versions.withLock { $0 } == [2, 2, 2, 2])
        let check = try PostgresConnection(database.url)
        #expect(try check.execute("SELECT count(*) AS c FROM log").row(0).int("c") == 1)
        #expect(try check.execute("SELECT count(*) AS c FROM schema_migrations").row(0).int("c") == 2)
    }

    @Test func aNewerSchemaIsRefused() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        var newer = PostgresMigrator()
        newer.add("CREATE TABLE a (x int)")
        newer.add("CREATE TABLE b (x int)")
        try newer.migrate(PostgresConnection(database.url))
        var older = PostgresMigrator()
        older.add("CREATE TABLE a (x int)")
        #expect(throws: PostgresError.self) { try older.migrate(PostgresConnection(database.url)) }
    }

    /// Ten jobs at once on a pool of two: never more than two connections.
    @Test func thePoolNeverOpensMoreThanItsSize() async throws {
        final class Seen: Sendable { let pids = Mutex<Set<Int64>>([]) }
        let pool = PostgresPool(url: testDatabaseURL!, size: 2)
        let seen = Seen()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    let pid = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Int64 in
                        try db.execute("SELECT pg_sleep(0.02)")
                        return try db.execute("SELECT pg_backend_pid() AS pid").row(0).int("pid") ?? 0
                    }
                    seen.pids.withLock { _ = $0.insert(pid) }
                }
            }
            try await group.waitForAll()
        }
        #expect(seen.pids.withLock { $0.count } <= 2)
        #expect(pool.openConnections <= 2)
    }

    /// A connection the server dropped while it sat idle is replaced before a job meets it.
    @Test func aDroppedIdleConnectionIsReplaced() async throws {
        let pool = PostgresPool(url: testDatabaseURL!, size: 1)
        let pid = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Int64 in
            try db.execute("SELECT pg_backend_pid() AS pid").row(0).int("pid") ?? 0
        }
        let admin = try PostgresConnection(testDatabaseURL!)
        try admin.execute("SELECT pg_terminate_backend($1)", [String(pid)])
        // Until the backend is gone (its socket closed), observed from another connection.
        for _ in 0..<250 where try admin.execute("SELECT count(*) AS c FROM pg_stat_activity WHERE pid = $1", [String(pid)]).row(0).int("c") == 1 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let again = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Int64 in
            try db.execute("SELECT pg_backend_pid() AS pid").row(0).int("pid") ?? 0
        }
        #expect(again != pid)
        #expect(pool.openConnections == 1)
    }

    /// A database that is down costs one connect attempt per backoff interval, not one per job.
    @Test func anUnreachableDatabaseBacksOff() async throws {
        let closed = PostgresURL("postgres://reelgate:secret-password@127.0.0.1:1/postgres?connect_timeout=2")
        let pool = PostgresPool(url: closed, size: 1)
        let first = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in _ = try db.execute("SELECT 1") }
        }
        #expect(first?.kind == .connection)
        #expect(!String(describing: first).contains("secret-password"))
        var refusedFast = 0
        for _ in 0..<20 {
            do {
                try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in _ = try db.execute("SELECT 1") }
            } catch {
                if error.message.contains("retrying in") { refusedFast += 1 }
            }
        }
        #expect(refusedFast > 0 && pool.connectAttempts < 10, "\(pool.connectAttempts) connect attempts for 21 jobs")
    }
}
