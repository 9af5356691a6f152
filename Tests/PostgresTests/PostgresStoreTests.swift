import Domain
import Foundation
import Postgres
import PostgresStore
import Store
import Synchronization
import Testing

/// The PostgreSQL store's first part (issue 13, in progress) with several instances on one
/// database: each "instance" is a store of its own with its own pool.
@Suite(.enabled(if: testDatabaseURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct PostgresStoreTests {
    static func task(_ uuid: String = UUID().uuidString.lowercased(), key: String = "alice", body: String = "{\"a\":1}", cap: Int? = nil)
        -> NewTask
    {
        NewTask(uuid: uuid, apiKeyName: key, model: "reelgate:simulator@1", requestJSON: body, requestHash: body + "#", format: "MP4",
                seeds: [7, 8], videoUUIDs: [UUID().uuidString.lowercased(), UUID().uuidString.lowercased()], parentVideoUUID: nil,
                maxInFlight: cap)
    }

    @Test func aSubmittedTaskReadsBackWithItsResults() async throws {
        let database = try TestDatabase()
        defer { database.drop() }
        let store = try await PostgresTaskStore(url: database.url, poolSize: 2)
        let task = Self.task()
        #expect(try await store.submit([task]) == [.created])
        let found = try #require(try await store.find(task.uuid))
        #expect(found.state == .queued && found.apiKeyName == "alice" && found.requestJSON == task.requestJSON)
        #expect(found.results.map(\.videoUUID) == task.videoUUIDs && found.results.map(\.seed) == [7, 8])
        #expect(found.results.allSatisfy { $0.state == .pending })
        #expect(try await store.inFlight(keyName: "alice") == 1)
        #expect(try await store.find("00000000-0000-4000-8000-000000000000") == nil)
        #expect(abs(store.now - Date().timeIntervalSince1970) < 5, "the database's clock, as seen from here")
    }

    /// Twenty submits of one taskUUID through two instances at once: one task, nineteen ACKs of
    /// it; a different body, or another key, is a conflict.
    @Test func idempotencyHoldsAcrossInstances() async throws {
        let database = try TestDatabase()
        defer { database.drop() }
        let a = try await PostgresTaskStore(url: database.url, poolSize: 4)
        let b = try await PostgresTaskStore(url: database.url, poolSize: 4)
        let task = Self.task()
        let outcomes = try await withThrowingTaskGroup(of: [SubmitOutcome].self) { group in
            for i in 0..<20 { group.addTask { try await (i.isMultiple(of: 2) ? a : b).submit([task]) } }
            return try await group.reduce(into: [SubmitOutcome]()) { $0 += $1 }
        }
        #expect(outcomes.filter { $0 == .created }.count == 1)
        #expect(outcomes.filter { $0 == .duplicate }.count == 19)
        #expect(try await b.submit([Self.task(task.uuid, body: "{\"a\":2}")]) == [.conflict])
        #expect(try await a.submit([Self.task(task.uuid, key: "bob")]) == [.conflict])
        #expect(try await a.inFlight(keyName: "alice") == 1)
    }

    /// A key's cap on unfinished tasks holds when two instances take its tasks at once.
    @Test func theInFlightCapHoldsAcrossInstances() async throws {
        let database = try TestDatabase()
        defer { database.drop() }
        let a = try await PostgresTaskStore(url: database.url, poolSize: 4)
        let b = try await PostgresTaskStore(url: database.url, poolSize: 4)
        let outcomes = try await withThrowingTaskGroup(of: [SubmitOutcome].self) { group in
            for i in 0..<10 { group.addTask { try await (i.isMultiple(of: 2) ? a : b).submit([Self.task(cap: 3)]) } }
            return try await group.reduce(into: [SubmitOutcome]()) { $0 += $1 }
        }
        #expect(outcomes.filter { $0 == .created }.count == 3)
        #expect(outcomes.filter { $0 == .tooManyInFlight }.count == 7)
        #expect(try await b.inFlight(keyName: "alice") == 3)
    }

    /// Batches holding the same keys in opposite orders, at once from two instances: no deadlock.
    @Test func batchesOfSeveralKeysDoNotDeadlock() async throws {
        let database = try TestDatabase()
        defer { database.drop() }
        let a = try await PostgresTaskStore(url: database.url, poolSize: 4)
        let b = try await PostgresTaskStore(url: database.url, poolSize: 4)
        let keys = ["k1", "k2", "k3", "k4"]
        let created = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<16 {
                let order = i.isMultiple(of: 2) ? keys : keys.reversed()
                group.addTask { try await (i.isMultiple(of: 2) ? a : b).submit(order.map { Self.task(key: $0) }).filter { $0 == .created }.count }
            }
            return try await group.reduce(0, +)
        }
        #expect(created == 64)
        for key in keys { #expect(try await a.inFlight(keyName: key) == 16) }
    }

    /// Four instances starting together on an empty database: one migration, four working stores.
    @Test func instancesStartingTogetherMigrateOnce() async throws {
        let database = try TestDatabase()
        defer { database.drop() }
        let stores = try await withThrowingTaskGroup(of: PostgresTaskStore.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresTaskStore(url: database.url, poolSize: 1) } }
            return try await group.reduce(into: [PostgresTaskStore]()) { $0.append($1) }
        }
        #expect(stores.count == 4)
        let check = try PostgresConnection(database.url)
        #expect(try check.execute("SELECT count(*) AS c FROM schema_migrations").row(0).int("c") == Int64(PostgresSchema.migrator.latestVersion))
        for store in stores { #expect(try await store.submit([Self.task()]) == [.created]) }
    }
}
