import Domain
import Foundation
import Postgres
import PostgresStore
import Store
import Synchronization
import TestSupport
import Testing

/// The PostgreSQL store's first part (issue 13, in progress) with several instances on one
/// database: each "instance" is a store of its own with its own pool.
@Suite(.enabled(if: testDatabaseURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct PostgresStoreTests {
    /// Opening connects and migrates, synchronously: on a thread of its own, not on the suite's
    /// cooperative pool (CI saw a migration blocked in libpq hold a pool thread for seconds).
    func openStore(_ url: PostgresURL, poolSize: Int) async throws -> PostgresTaskStore {
        try await OffPool.run { try PostgresTaskStore(url: url, poolSize: poolSize) }
    }

    static func task(_ uuid: String = UUID().uuidString.lowercased(), key: String = "alice", body: String = "{\"a\":1}", cap: Int? = nil)
        -> NewTask
    {
        NewTask(uuid: uuid, apiKeyName: key, model: "reelgate:simulator@1", requestJSON: body, requestHash: body + "#", format: "MP4",
                seeds: [7, 8], videoUUIDs: [UUID().uuidString.lowercased(), UUID().uuidString.lowercased()], parentVideoUUID: nil,
                maxInFlight: cap)
    }

    @Test func aSubmittedTaskReadsBackWithItsResults() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let store = try await openStore(database.url, poolSize: 2)
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
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let a = try await openStore(database.url, poolSize: 4)
        let b = try await openStore(database.url, poolSize: 4)
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
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let a = try await openStore(database.url, poolSize: 4)
        let b = try await openStore(database.url, poolSize: 4)
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
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let a = try await openStore(database.url, poolSize: 4)
        let b = try await openStore(database.url, poolSize: 4)
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

    /// Sixteen claimers on two instances at once: every task is taken exactly once (SKIP LOCKED).
    @Test func claimsAcrossInstancesNeverTakeATaskTwice() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let a = try await openStore(database.url, poolSize: 4)
        let b = try await openStore(database.url, poolSize: 4)
        let tasks = (0..<30).map { _ in Self.task() }
        _ = try await a.submit(tasks)
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for i in 0..<16 {
                group.addTask {
                    var mine: [String] = []
                    while let task = try await (i.isMultiple(of: 2) ? a : b).claim(owner: "worker-\(i)", leaseSeconds: 30) {
                        #expect(task.state == .dispatching && task.leaseOwner == "worker-\(i)")
                        mine.append(task.uuid)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(claimed.count == 30)
        #expect(Set(claimed) == Set(tasks.map(\.uuid)))
    }

    /// An instance that stops renewing (it crashed) loses the task once its lease expires: the
    /// other resumes it where it was, and the first can no longer write under its old lease.
    @Test func aCrashedInstancesLeaseIsTakenOver() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let crashed = try await openStore(database.url, poolSize: 2)
        let survivor = try await openStore(database.url, poolSize: 2)
        let task = Self.task()
        _ = try await crashed.submit([task])
        let held = try #require(try await crashed.claim(owner: "crashed", leaseSeconds: 30))
        #expect(try await survivor.claim(owner: "survivor", leaseSeconds: 30) == nil, "the lease is live")
        // Its last renewal before the crash was a short one.
        #expect(try await crashed.renewLease(task.uuid, owner: "crashed", leaseSeconds: 0.2))
        var resumed: TaskRecord?
        for _ in 0..<200 where resumed == nil {
            resumed = try await survivor.claim(owner: "survivor", leaseSeconds: 30)
            if resumed == nil { try await Task.sleep(for: .milliseconds(20)) }  // until the lease runs out
        }
        let taken = try #require(resumed)
        #expect(taken.uuid == held.uuid && taken.leaseOwner == "survivor" && taken.attempts == 2)
        #expect(try await !crashed.renewLease(task.uuid, owner: "crashed", leaseSeconds: 30))
        #expect(try await !crashed.apply(.failed(code: .providerError, message: "late", notify: nil), to: task.uuid, owner: "crashed"))
        let stored = StoredVideo(path: "/x", bytes: 1, expiresAt: 0, cost: 0)
        #expect(try await !crashed.markResultReady(task.videoUUIDs[0], owner: "crashed", media: stored))
        #expect(try await survivor.markResultReady(task.videoUUIDs[0], owner: "survivor", media: stored))
    }

    /// A lifecycle event is refused unless the caller holds the lease and the task is in a state
    /// the event may happen in; a failure fails the pending results, frees the key's slot and
    /// queues the errors webhook, in one transaction.
    @Test func eventsCheckOwnerAndState() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let store = try await openStore(database.url, poolSize: 2)
        let task = Self.task(cap: 5)
        _ = try await store.submit([task])
        _ = try #require(try await store.claim(owner: "w", leaseSeconds: 30))
        #expect(try await !store.apply(.upstreamFinished, to: task.uuid, owner: "w"), "not from dispatching")
        let webhook = NewDelivery(videoUUID: nil, kind: .webhook, url: "https://hooks.example/x", messageID: "msg_1")
        #expect(try await !store.apply(.failed(code: .providerError, message: "boom", notify: webhook), to: task.uuid, owner: "other"))
        #expect(try await store.apply(.failed(code: .providerError, message: "boom", notify: webhook), to: task.uuid, owner: "w"))
        let failed = try #require(try await store.find(task.uuid))
        #expect(failed.state == .failed && failed.errorCode == "providerError" && failed.leaseOwner == nil)
        #expect(failed.results.allSatisfy { $0.state == .failed && $0.errorMessage == "boom" })
        #expect(try await store.inFlight(keyName: "alice") == 0)
        let check = try PostgresConnection(database.url)
        #expect(try check.execute("SELECT count(*) AS c FROM deliveries WHERE target_host = 'hooks.example'").row(0).int("c") == 1)
        #expect(try check.execute("SELECT state FROM task_events WHERE task_uuid = $1 ORDER BY id", [task.uuid]).rows.map { $0[0] }
                == ["dispatching", "failed"])
    }

    /// A submit or queued deliveries on one instance wake the others (LISTEN/NOTIFY at commit).
    @Test func anotherInstancesWorkIsNotified() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        final class Heard: Sendable { let works = Mutex<[StoreWork]>([]) }
        let heard = Heard()
        let listening = try await openStore(database.url, poolSize: 1)
        listening.listenForWork { work in heard.works.withLock { $0.append(work) } }
        let other = try await openStore(database.url, poolSize: 2)
        func waitFor(_ work: StoreWork) async throws -> Bool {
            for _ in 0..<250 {  // observed, 20 ms at a time, for up to 5 s
                if heard.works.withLock({ $0.contains(work) }) { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }
        // The listener connects in the background: submit until it hears one.
        var tasksHeard = false
        for _ in 0..<5 where !tasksHeard {
            _ = try await other.submit([Self.task()])
            tasksHeard = try await waitFor(.tasks)
        }
        #expect(tasksHeard)
        let claimed = try #require(try await other.claim(owner: "w", leaseSeconds: 30))
        let webhook = NewDelivery(videoUUID: nil, kind: .webhook, url: "https://hooks.example/x", messageID: "m")
        #expect(try await other.apply(.failed(code: .providerError, message: "x", notify: webhook), to: claimed.uuid, owner: "w"))
        #expect(try await waitFor(.deliveries))
    }

    /// A stored state the code does not know is an error, never a guess such as `failed`.
    @Test func aRowWithAnUnknownStateIsAnError() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let store = try await openStore(database.url, poolSize: 1)
        let task = Self.task()
        _ = try await store.submit([task])
        try PostgresConnection(database.url).execute("UPDATE tasks SET state = 'exploded' WHERE uuid = $1", [task.uuid])
        await #expect(throws: StoreError.undecodable(table: "tasks", column: "state", value: "exploded")) { try await store.find(task.uuid) }
    }

    /// A claim finds the parked task whose poll is due through `tasks_parked`, not by stepping
    /// through every running task the instances hold (`tasks_queue` holds those too).
    @Test func aParkedTaskIsFoundWithoutSteppingThroughHeldOnes() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let store = try await openStore(database.url, poolSize: 1)
        let parked = Self.task()
        _ = try await store.submit([parked])
        let plan = try await OffPool.run {
            let db = try PostgresConnection(database.url)
            try db.execute("""
                INSERT INTO tasks (uuid, api_key_name, model, request_json, request_hash, state, created_at, updated_at,
                                   next_attempt_at, lease_owner, lease_expires_at)
                SELECT 'held-' || n, 'alice', 'm', '{}', 'h', 'running', 1, 1, 1, 'A', 1e12 FROM generate_series(1, 2000) AS n
                """)
            try db.execute("UPDATE tasks SET state = 'running', next_attempt_at = 1 WHERE uuid = $1", [parked.uuid])
            try db.execute("ANALYZE tasks")
            // The store's query, planned as its prepared statement is once PostgreSQL switches it to
            // a generic plan (which cannot see a bound value).
            try db.execute("SET plan_cache_mode = force_generic_plan")
            try db.execute("PREPARE parked_claim AS \(PostgresTaskStore.parkedClaim)")
            return try db.execute("EXPLAIN EXECUTE parked_claim(1000)").allRows.compactMap { try? $0.string("QUERY PLAN") }.joined(separator: "\n")
        }
        #expect(plan.contains("tasks_parked"), "plan: \(plan)")
        #expect(try await store.claim(owner: "B", leaseSeconds: 30)?.uuid == parked.uuid)
    }

    /// A row the code cannot read is set aside by the claim that meets it (its key's slot given
    /// back once, even if it is cancelled afterwards), and the queue goes on.
    @Test func anUnreadableTaskIsSetAsideOnce() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let store = try await openStore(database.url, poolSize: 2)
        let bad = Self.task(), good = Self.task()
        _ = try await store.submit([bad])
        _ = try await store.submit([good])
        try PostgresConnection(database.url).execute("UPDATE results SET state = 'exploded' WHERE task_uuid = $1", [bad.uuid])
        await #expect(throws: StoreError.self) { try await store.claim(owner: "A", leaseSeconds: 30) }
        #expect(try await store.inFlight(keyName: "alice") == 1)
        _ = try? await store.cancel(bad.uuid)
        #expect(try await store.inFlight(keyName: "alice") == 1, "not given back twice")
        #expect(try await store.claim(owner: "A", leaseSeconds: 30)?.uuid == good.uuid)
        #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)
    }

    /// Four instances starting together on an empty database: one migration, four working stores.
    @Test func instancesStartingTogetherMigrateOnce() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let stores = try await withThrowingTaskGroup(of: PostgresTaskStore.self) { group in
            for _ in 0..<4 { group.addTask { try await openStore(database.url, poolSize: 1) } }
            return try await group.reduce(into: [PostgresTaskStore]()) { $0.append($1) }
        }
        #expect(stores.count == 4)
        let check = try PostgresConnection(database.url)
        #expect(try check.execute("SELECT count(*) AS c FROM schema_migrations").row(0).int("c") == Int64(PostgresSchema.migrator.latestVersion))
        for store in stores { #expect(try await store.submit([Self.task()]) == [.created]) }
    }

    /// A provider's job slots hold across instances: three instances racing for twenty running
    /// tasks with a cap of 4 take exactly 4; a holder asking again keeps its own; a release frees
    /// one; a slot whose task ended elsewhere (its release lost) is reclaimed when the cap is met.
    @Test func providerSlotsHoldAcrossInstances() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let stores = [try await openStore(database.url, poolSize: 4), try await openStore(database.url, poolSize: 4),
                      try await openStore(database.url, poolSize: 4)]
        var uuids: [String] = []
        for _ in 0..<20 {
            let task = Self.task(key: "k\(uuids.count)")
            _ = try await stores[0].submit([task])
            uuids.append(try #require(try await stores[0].claim(owner: "w", leaseSeconds: 60)).uuid)
        }
        let taken = try await withThrowingTaskGroup(of: String?.self) { group in
            for (i, uuid) in uuids.enumerated() {
                group.addTask { try await stores[i % 3].takeProviderSlot(provider: "fal", task: uuid, limit: 4, force: false) ? uuid : nil }
            }
            return try await group.reduce(into: [String]()) { if let uuid = $1 { $0.append(uuid) } }
        }
        #expect(taken.count == 4)
        let waiting = uuids.filter { !taken.contains($0) }
        #expect(try await stores[1].takeProviderSlot(provider: "fal", task: taken[0], limit: 4, force: false), "a holder keeps its slot")
        #expect(try await !stores[1].takeProviderSlot(provider: "fal", task: waiting[0], limit: 4, force: false))
        #expect(try await stores[2].takeProviderSlot(provider: "gemini", task: waiting[0], limit: 4, force: false), "another provider's slots")

        try await stores[2].releaseProviderSlot(provider: "fal", task: taken[1])
        #expect(try await stores[0].takeProviderSlot(provider: "fal", task: waiting[1], limit: 4, force: false))
        #expect(try await !stores[0].takeProviderSlot(provider: "fal", task: waiting[2], limit: 4, force: false))

        // taken[2] fails on some instance that never releases its slot: the next take reclaims it.
        #expect(try await stores[0].apply(.failed(code: .providerError, message: "boom", notify: nil), to: taken[2], owner: "w"))
        #expect(try await stores[1].takeProviderSlot(provider: "fal", task: waiting[2], limit: 4, force: false))
        #expect(try await !stores[1].takeProviderSlot(provider: "fal", task: waiting[3], limit: 4, force: false))
        // A job already running upstream is counted whatever the cap.
        #expect(try await stores[2].takeProviderSlot(provider: "fal", task: waiting[3], limit: 4, force: true))
        let check = try PostgresConnection(database.url)
        #expect(try check.execute("SELECT count(*) AS n FROM provider_slots WHERE provider = 'fal'").row(0).int("n") == 5)
    }

    /// The request schedule is one for every instance: with 60 requests a minute (one a second,
    /// a burst of one), six reservations in a row through three instances are scheduled one
    /// second apart, whichever instance asks.
    @Test func providerRequestScheduleIsShared() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let stores = [try await openStore(database.url, poolSize: 1), try await openStore(database.url, poolSize: 1),
                      try await openStore(database.url, poolSize: 1)]
        // Connections open and the statement prepared, so each call below is one quick round trip.
        for store in stores { _ = try await store.reserveProviderRequests(provider: "warm-up", cost: 0, tolerance: 0) }
        // Each send time is known within the call's round trip: [before + wait, after + wait].
        var sendAt: [ClosedRange<Double>] = []
        var waits: [Double] = []
        for i in 0..<6 {
            let before = Date().timeIntervalSince1970
            let wait = try await stores[i % 3].reserveProviderRequests(provider: "fal", cost: 1, tolerance: 1)
            sendAt.append((before + wait)...(Date().timeIntervalSince1970 + wait))
            waits.append(wait)
        }
        #expect(waits[0] == 0, "the first goes at once")
        // Each send is one second after the one before, whichever instance asked: never sooner,
        // and later only when the call itself reached the database after its turn (a round trip
        // over a second on a loaded machine), in which case it goes at once.
        for i in 1..<6 {
            let largest = sendAt[i].upperBound - sendAt[i - 1].lowerBound, smallest = sendAt[i].lowerBound - sendAt[i - 1].upperBound
            #expect(largest >= 0.95, "request \(i) is scheduled \(smallest)...\(largest) after the one before")
            #expect(smallest <= 1.05 || waits[i] == 0, "request \(i) is scheduled \(smallest)...\(largest) after the one before")
        }
        #expect(try await stores[0].reserveProviderRequests(provider: "gemini", cost: 1, tolerance: 1) == 0, "per provider")
    }

    /// Another instance stores a taskUUID with a different body while a group holding it twice is
    /// being written: the insert waits for that commit and then finds the row, and both copies
    /// are judged against that row (conflict), not the second against the first copy.
    @Test func copiesInAGroupAreJudgedAgainstTheRowThatWon() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let store = try await openStore(database.url, poolSize: 2)
        let task = Self.task()
        let other = try PostgresConnection(database.url)
        try other.execute("BEGIN")
        try other.execute(
            """
            INSERT INTO tasks (uuid, api_key_name, model, request_json, request_hash, state, created_at, updated_at, next_attempt_at)
            VALUES ($1, 'alice', 'reelgate:simulator@1', '{}', 'another body', 'queued', 0, 0, 0)
            """, [task.uuid])
        async let outcomes = store.submit([task, task])
        // The group's insert waits on the other transaction's row (observed, not slept on).
        let watcher = try PostgresConnection(database.url)
        while try watcher.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO tasks%'").count == 0 {
            await Task.yield()
        }
        try other.execute("COMMIT")
        #expect(try await outcomes == [.conflict, .conflict])
        #expect(try await store.inFlight(keyName: "alice") == 0, "its count was given back")
    }
}
