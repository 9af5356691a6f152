import Foundation
import Glibc
import SQLite
import TestSupport
import Testing

struct Boom: Error {}

private func migrator(extra: [String] = []) -> Migrator {
    var m = Migrator()
    m.add("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB, score REAL)")
    m.add("ALTER TABLE items ADD COLUMN note TEXT")
    for sql in extra { m.add(sql) }
    return m
}

@Suite("SQLite layer")
struct SQLiteTests {
    @Test func opensInWALWithFullSync() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        #expect(try db.scalar("PRAGMA journal_mode").string == "wal")
        #expect(try db.scalar("PRAGMA synchronous").int == 2)  // FULL
        #expect(try db.scalar("PRAGMA foreign_keys").int == 1)
    }

    @Test func migrationsApplyOnceAndRecordTheVersion() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("t.db")
        do {
            let db = try Database(path: path)
            #expect(try migrator().migrate(db) == 2)
            #expect(try db.scalar("PRAGMA user_version").int == 2)
        }
        // Reopening with one more migration applies only that one.
        let db = try Database(path: path)
        #expect(try migrator(extra: ["CREATE INDEX items_score ON items(score)"]).migrate(db) == 3)
        #expect(try db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'items_score'").int == 1)
    }

    @Test func failingMigrationRollsBackAndKeepsTheOldVersion() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        try migrator().migrate(db)
        var broken = migrator()
        broken.add { db in
            try db.execute("CREATE TABLE half_done (x)")
            throw Boom()
        }
        #expect(throws: Boom.self) { try broken.migrate(db) }
        #expect(try db.scalar("PRAGMA user_version").int == 2)
        #expect(try db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").int == 0)
    }

    @Test func refusesASchemaNewerThanTheBuild() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        try migrator(extra: ["SELECT 1"]).migrate(db)
        #expect(throws: SQLiteError.self) { try migrator().migrate(db) }
    }

    @Test func typedBindsAndReadsRoundTrip() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        try migrator().migrate(db)
        let blob: [UInt8] = [0, 1, 2, 255, 0]
        let text = "nul\u{0}inside é 🎬"
        try db.execute("INSERT INTO items (id, name, data, score, note) VALUES (?, ?, ?, ?, ?)",
                       [Int64.max, text, blob, 2.5, Optional<String>.none])
        let row = try #require(try db.query("SELECT id, name, data, score, note FROM items").first)
        #expect(row["id"].int64 == Int64.max)
        #expect(row["name"].string == text)
        #expect(row["data"].bytes == blob)
        #expect(row["score"].double == 2.5)
        #expect(row["note"].isNull)
    }

    @Test func wrongArgumentCountIsATypedError() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        try migrator().migrate(db)
        #expect(throws: SQLiteError.self) { try db.execute("INSERT INTO items (name) VALUES (?)", []) }
    }

    @Test func constraintViolationIsRecognisable() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        try migrator().migrate(db)
        try db.execute("INSERT INTO items (name) VALUES (?)", ["a"])
        do {
            try db.execute("INSERT INTO items (name) VALUES (?)", ["a"])
            Issue.record("expected a constraint violation")
        } catch {
            #expect(error.isConstraintViolation)
            #expect(error.description.contains("UNIQUE"))
        }
    }

    @Test func transactionRollsBackOnError() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let db = try Database(path: dir.file("t.db"))
        try migrator().migrate(db)
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.execute("INSERT INTO items (name) VALUES (?)", ["x"])
                throw Boom()
            }
        }
        #expect(try db.scalar("SELECT count(*) FROM items").int == 0)
        try db.transaction { try db.execute("INSERT INTO items (name) VALUES (?)", ["y"]) }
        #expect(try db.scalar("SELECT count(*) FROM items").int == 1)
    }
}

@Suite("DatabasePool: group commit, readers", .timeLimit(.minutes(1)))
struct DatabasePoolTests {
    @Test func concurrentWritesAllCommitAndAreReadable() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let pool = try DatabasePool(path: dir.file("t.db"), migrator: migrator())
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<500 {
                group.addTask {
                    try await pool.write { db in
                        try db.execute("INSERT INTO items (name) VALUES (?)", ["n\(i)"])
                        return db.lastInsertRowID
                    }
                }
            }
            var ids = Set<Int64>()
            for try await id in group { ids.insert(id) }
            #expect(ids.count == 500)
        }
        let count = try await pool.read { db in try db.scalar("SELECT count(*) FROM items").int }
        #expect(count == 500)
    }

    /// A synced write is answered only after a WAL flush that started after its commit; a
    /// deferred one right after its commit, while a flush is still on its way to the disk; and
    /// the writer goes on committing meanwhile. A failed flush fails its writes and every later one.
    @Test func syncedWritesWaitForTheWALFlushDeferredOnesDoNot() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let flushes = HeldFlush()
        let pool = try DatabasePool(path: dir.file("t.db"), migrator: migrator()) { _ in flushes.flush() }
        #expect(try pool.writeUnbatched { try $0.scalar("PRAGMA synchronous").int } == 1)  // NORMAL: the writer never waits
        let synced = Task { try await pool.write { db in try db.execute("INSERT INTO items (name) VALUES ('synced')") } }
        await flushes.started.wait()  // its flush is under way, held
        try await pool.write(.deferred) { db in try db.execute("INSERT INTO items (name) VALUES ('deferred')") }
        let count = try await pool.read { db in try db.scalar("SELECT count(*) FROM items").int }
        #expect(count == 2)  // both committed and visible…
        #expect(flushes.count == 1 && !flushes.isReleased)  // …while the first flush still holds
        flushes.setFailing(true)
        flushes.release()
        await #expect(throws: SQLiteError.self) { try await synced.value }  // a failed flush is not "durable"
        // Then what the WAL holds on disk is unknown: every later write is refused (fail-stop).
        flushes.setFailing(false)
        await #expect(throws: SQLiteError.self) {
            try await pool.write(.deferred) { db in try db.execute("INSERT INTO items (name) VALUES ('after')") }
        }
        #expect(flushes.count == 1)
    }

    /// The WAL is copied back by the pool's own checkpointer after commits, not inside a COMMIT
    /// (the writer's automatic checkpoint is only a far-off safety valve).
    @Test func checkpointsRunBesideTheWriter() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let pool = try DatabasePool(path: dir.file("t.db"), migrator: migrator())
        #expect(try pool.writeUnbatched { try $0.scalar("PRAGMA wal_autocheckpoint").int } == DatabasePool.writerCheckpointPages)
        for i in 0..<50 {
            try await pool.write { db in try db.execute("INSERT INTO items (name, data) VALUES (?, ?)", ["n\(i)", [UInt8](repeating: 7, count: 8192)]) }
        }
        // Observed, not slept on: the checkpointer reports each run; wait (bounded) for one that
        // copied the whole WAL. (How much is in the WAL then depends on timing: each complete
        // checkpoint lets the writer start the WAL over.)
        let deadline = ContinuousClock.now + .seconds(20)
        while pool.checkpoints.count == 0 || pool.checkpoints.walFrames == 0 || pool.checkpoints.copiedFrames != pool.checkpoints.walFrames {
            #expect(ContinuousClock.now < deadline, "no complete checkpoint: \(pool.checkpoints)")
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(pool.checkpoints.count >= 1)
        #expect(try await pool.read { db in try db.scalar("SELECT count(*) FROM items").int } == 50)
    }

    @Test func aFailingJobRollsBackAloneInItsBatch() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let pool = try DatabasePool(path: dir.file("t.db"), migrator: migrator())
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<100 {
                group.addTask {
                    do {
                        try await pool.write { db in
                            try db.execute("INSERT INTO items (name) VALUES (?)", ["n\(i)"])
                            if i % 10 == 0 { throw Boom() }  // after its insert: the savepoint must undo it
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var results: [Bool] = []
            for await r in group { results.append(r) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 90)
        let names = try await pool.read { db in try db.query("SELECT name FROM items").compactMap { $0["name"].string } }
        #expect(names.count == 90)
        #expect(!names.contains("n0") && !names.contains("n50"))
    }

    @Test func duplicateKeyInOneJobDoesNotFailTheOthers() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let pool = try DatabasePool(path: dir.file("t.db"), migrator: migrator())
        let statements = ["INSERT INTO items (name) VALUES ('same')", "INSERT INTO items (name) VALUES ('same')",
                          "INSERT INTO items (name) VALUES ('other')"]
        let successes = await withTaskGroup(of: Bool.self) { group in
            for sql in statements {
                group.addTask { (try? await pool.write { db in try db.execute(sql) }) != nil }
            }
            var n = 0
            for await ok in group where ok { n += 1 }
            return n
        }
        #expect(successes == 2)
        let count = try await pool.read { db in try db.scalar("SELECT count(*) FROM items").int }
        #expect(count == 2)
    }

    @Test func dataSurvivesReopening() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("t.db")
        do {
            let pool = try DatabasePool(path: path, migrator: migrator())
            try await pool.write { db in try db.execute("INSERT INTO items (name) VALUES ('kept')") }
        }
        let pool = try DatabasePool(path: path, migrator: migrator())
        let name = try pool.readBlocking { db in try db.scalar("SELECT name FROM items").string }
        #expect(name == "kept")
    }
}
