import Domain
import Foundation
import SQLite
import SQLiteStore
import PostgresStore
import Store
import TestSupport
import Testing

/// A store implementation under test: the contract suite runs once per backend.
struct StoreBackend: CustomStringConvertible, Sendable {
    let description: String
    let make: @Sendable (TempDirectory, ClockBox) async throws -> any TaskStore

    static let sqlite = StoreBackend(description: "SQLite") { dir, clock in
        try SQLiteTaskStore(path: dir.file("t.db"), clock: { clock.now })
    }
    /// A database of its own on the test cluster (left for the cluster's removal at the end).
    static let postgres = StoreBackend(description: "PostgreSQL") { _, clock in
        // Creating the database and connecting block: off the cooperative pool.
        try await OffPool.run { try PostgresTaskStore(url: PostgresTestDatabase().url, poolSize: 4, clock: { clock.now }) }
    }
    /// Every backend: PostgreSQL when the run has a cluster (`make test` always does).
    static let all: [StoreBackend] = PostgresTestDatabase.serverURL == nil ? [.sqlite] : [.sqlite, .postgres]
}

/// The store contract: leases, the lifecycle enforced by the store, deliveries. Each test runs
/// against every backend in ``StoreBackend/all``.
@Suite("Store contract")
struct StoreContractTests {
    func newTask(_ uuid: String = UUID().uuidString.lowercased(), key: String = "k", cap: Int? = nil) -> NewTask {
        NewTask(uuid: uuid, apiKeyName: key, model: "reelgate:simulator@1", requestJSON: "{}", requestHash: "h", format: "MP4",
                seeds: [1], videoUUIDs: [UUID().uuidString.lowercased()], parentVideoUUID: nil, maxInFlight: cap)
    }

    /// A store with one task claimed by "A" (in `dispatching`).
    func claimedTask(_ backend: StoreBackend, _ dir: TempDirectory, _ clock: ClockBox) async throws -> (any TaskStore, TaskRecord) {
        let store = try await backend.make(dir, clock)
        #expect(try await store.submit([newTask()]) == [.created])
        return (store, try #require(try await store.claim(owner: "A", leaseSeconds: 30)))
    }

    /// A claimed task whose upstream job finished: its videos are fetched next.
    func fetchingTask(_ backend: StoreBackend, _ dir: TempDirectory, _ clock: ClockBox) async throws -> (any TaskStore, TaskRecord) {
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        #expect(try await store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["up-1"]), deadline: 5000), to: claimed.uuid, owner: "A"))
        #expect(try await store.apply(.upstreamFinished, to: claimed.uuid, owner: "A"))
        return (store, claimed)
    }

    @Test(arguments: StoreBackend.all) func aStalledWorkersLeaseExpiresAndAnotherTakesOver(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimedByA) = try await claimedTask(backend, dir, clock)
        #expect(claimedByA.state == .dispatching)
        #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)  // leased: nobody else gets it
        #expect(try await store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["up-1"]), deadline: 5000), to: claimedByA.uuid, owner: "A"))

        clock.now += 31  // A stalls past its lease
        let claimedByB = try #require(try await store.claim(owner: "B", leaseSeconds: 30))
        #expect(claimedByB.uuid == claimedByA.uuid)
        #expect(claimedByB.state == .running)  // resumes where A left it, not from the start
        #expect(claimedByB.upstream?.ids == ["up-1"])  // so B polls the same upstream job: nothing paid twice
        #expect(claimedByB.attempts == 2)

        // A wakes up: its writes are refused, so it cannot undo B's work.
        #expect(try await !store.apply(.failed(code: .providerError, message: "late", notify: nil), to: claimedByA.uuid, owner: "A"))
        #expect(try await !store.renewLease(claimedByA.uuid, owner: "A", leaseSeconds: 30))
        #expect(try await store.apply(.upstreamFinished, to: claimedByA.uuid, owner: "B"))
        let events = try await store.events(claimedByA.uuid).map(\.detail)
        #expect(events.contains("lease expired; resumed by B"))
        #expect(try await store.find(claimedByA.uuid)?.state == .fetching)
    }

    @Test(arguments: StoreBackend.all) func heartbeatKeepsTheLease(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        for _ in 0..<5 {
            clock.now += 20
            #expect(try await store.renewLease(claimed.uuid, owner: "A", leaseSeconds: 30))
            #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)
        }
    }

    @Test(arguments: StoreBackend.all) func retryableFaultsWaitInTheQueueUntilDue(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        #expect(try await store.apply(.retryScheduled(at: 1010, reason: "upstream 503"), to: claimed.uuid, owner: "A"))
        #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)
        clock.now = 1010
        let again = try #require(try await store.claim(owner: "B", leaseSeconds: 30))
        #expect(again.uuid == claimed.uuid && again.attempts == 2)
        #expect(try await store.events(claimed.uuid).map(\.detail).contains("retryable: upstream 503"))
    }

    @Test(arguments: StoreBackend.all) func waitingForCapacityGivesTheAttemptBackAndLogsNothing(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        let before = try await store.events(claimed.uuid).count
        #expect(try await store.apply(.waitingForCapacity(provider: "p", retryAt: 1001), to: claimed.uuid, owner: "A"))
        let task = try #require(try await store.find(claimed.uuid))
        #expect(task.state == .queued && task.attempts == 0 && task.leaseOwner == nil)
        #expect(try await store.events(claimed.uuid).count == before)
    }

    /// The store refuses what the lifecycle refuses, whoever holds the lease, and writes nothing.
    @Test(arguments: StoreBackend.all) func eventsFromTheWrongStateAreRefused(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        let events = try await store.events(claimed.uuid)
        // dispatching: not finished upstream, no results to store, no deliveries to settle.
        #expect(try await !store.apply(.upstreamFinished, to: claimed.uuid, owner: "A"))
        #expect(try await !store.apply(.resultsStored(deliveries: []), to: claimed.uuid, owner: "A"))
        #expect(try await store.events(claimed.uuid) == events)
        #expect(try await store.find(claimed.uuid)?.state == .dispatching)
        // A submit is recorded once: a second one (a stale retry) does not overwrite the job id.
        #expect(try await store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["up-1"]), deadline: 5000), to: claimed.uuid, owner: "A"))
        #expect(try await !store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["up-2"]), deadline: 5000), to: claimed.uuid, owner: "A"))
        #expect(try await store.find(claimed.uuid)?.upstream?.ids == ["up-1"])
        // Events with methods of their own are not worker events.
        await #expect(throws: StoreError.self) { try await store.apply(.cancelled, to: claimed.uuid, owner: "A") }
        await #expect(throws: StoreError.self) { try await store.apply(.deliveriesSettled, to: claimed.uuid, owner: "A") }
    }

    @Test(arguments: StoreBackend.all) func aFallbackIsInTheEventLogWithItsCause(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        #expect(try await store.apply(.fellBack(from: "gemini", to: "fal", failure: "gemini: HTTP 503 from api.example"), to: claimed.uuid, owner: "A"))
        let last = try #require(try await store.events(claimed.uuid).last)
        #expect(last.state == .dispatching)
        #expect(last.detail == "fell back from gemini to fal after: gemini: HTTP 503 from api.example")
    }

    @Test(arguments: StoreBackend.all) func aFailureFailsPendingResultsQueuesItsWebhookAndFreesTheKey(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try await backend.make(dir, clock)
        let task = newTask(key: "capped", cap: 1)
        #expect(try await store.submit([task]) == [.created])
        #expect(try await store.submit([newTask(key: "capped", cap: 1)]) == [.tooManyInFlight])
        #expect(try await store.submit([task]) == [.duplicate])
        _ = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        let notify = NewDelivery(videoUUID: nil, kind: .webhook, url: "https://hooks.example/x", messageID: "msg_f")
        #expect(try await store.apply(.failed(code: .contentPolicyViolation, message: "blocked", notify: notify), to: task.uuid, owner: "A"))
        let failed = try #require(try await store.find(task.uuid))
        #expect(failed.state == .failed && failed.errorCode == "contentPolicyViolation" && failed.leaseOwner == nil)
        #expect(failed.results.allSatisfy { $0.state == .failed && $0.errorCode == "contentPolicyViolation" })
        #expect(try await store.deliveries(task.uuid).map { $0.0.messageID } == ["msg_f"])
        #expect(try await store.inFlight(keyName: "capped") == 0)
        #expect(try await store.submit([newTask(key: "capped", cap: 1)]) == [.created])
    }

    /// A task's last video is recorded with its `resultsStored` step, in its transaction: not
    /// for another owner, nor for a video that is not one of the task's pending results (then
    /// nothing of the step is written either).
    @Test(arguments: StoreBackend.all) func theLastVideoIsRecordedWithTheResultsStoredStep(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await fetchingTask(backend, dir, clock)
        let video = claimed.results[0].videoUUID
        let hook = NewDelivery(videoUUID: video, kind: .webhook, url: "https://hooks.example/x", messageID: "msg_\(video)")
        let stored = ReadyVideo(videoUUID: video, media: StoredVideo(path: "/m/v.mp4", bytes: 10, expiresAt: 2000, cost: 0.5))
        #expect(try await !store.apply(.resultsStored(deliveries: [hook]), to: claimed.uuid, owner: "B", readying: [stored]))
        let stranger = ReadyVideo(videoUUID: "not-this-task", media: stored.media)
        await #expect(throws: StoreError.resultNotPending(video: "not-this-task", task: claimed.uuid)) {
            try await store.apply(.resultsStored(deliveries: [hook]), to: claimed.uuid, owner: "A", readying: [stored, stranger])
        }
        let untouched = try #require(try await store.find(claimed.uuid))
        #expect(untouched.state == .fetching && untouched.results[0].state == .pending)
        #expect(try await store.deliveries(claimed.uuid).isEmpty)

        clock.now = 1005
        #expect(try await store.apply(.resultsStored(deliveries: [hook]), to: claimed.uuid, owner: "A", readying: [stored]))
        let task = try #require(try await store.find(claimed.uuid))
        #expect(task.state == .delivering)
        #expect(task.results[0].state == .ready && task.results[0].mediaPath == "/m/v.mp4" && task.results[0].readyAt == 1005)
        #expect(try await store.mediaBytesInUse() == 10)
        #expect(try await store.deliveries(claimed.uuid).count == 1)
    }

    @Test(arguments: StoreBackend.all) func resultsStoredThenTheLastDeliverySettlesTheTask(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await fetchingTask(backend, dir, clock)
        let video = claimed.results[0].videoUUID
        #expect(try await store.markResultReady(video, owner: "A", media: StoredVideo(path: "/m/v.mp4", bytes: 10, expiresAt: 2000, cost: 0.5)))
        #expect(try await !store.markResultReady(video, owner: "B", media: StoredVideo(path: "/m/w.mp4", bytes: 10, expiresAt: 2000, cost: 0.5)))
        let hook = NewDelivery(videoUUID: video, kind: .webhook, url: "https://hooks.example/x", messageID: "msg_\(video)")
        #expect(try await store.apply(.resultsStored(deliveries: [hook]), to: claimed.uuid, owner: "A"))
        #expect(try await store.find(claimed.uuid)?.state == .delivering)
        #expect(try await store.mediaBytesInUse() == 10)

        let quota = DeliveryQuota(total: 4, perKey: 4, perHost: 4)
        let claimedDeliveries = try await store.claimDeliveries(owner: "D", leaseSeconds: 30, quota: quota)
        let delivery = try #require(claimedDeliveries.first)
        #expect(claimedDeliveries.count == 1 && delivery.targetHost == "hooks.example" && delivery.attempts == 1)
        let attempt = DeliveryAttempt(at: 1001, targetHost: "hooks.example", statusCode: 200, latencyMilliseconds: 3, error: nil)
        #expect(try await !store.recordAttempt(delivery, owner: "E", attempt: attempt, outcome: .delivered))  // not E's claim
        #expect(try await store.recordAttempt(delivery, owner: "D", attempt: attempt, outcome: .delivered))
        let done = try #require(try await store.find(claimed.uuid))
        #expect(done.state == .succeeded && done.results[0].mediaPath == "/m/v.mp4")
        #expect(try await store.events(claimed.uuid).last?.detail == "deliveries settled")
        #expect(try await store.inFlight(keyName: "k") == 0)
        let history = try await store.history(of: done)
        #expect(history.events == (try await store.events(claimed.uuid)))
        #expect(history.deliveries.map { $0.0.messageID } == ["msg_\(video)"] && history.deliveries.first?.1 == [attempt])

        // A finished task read again (a store may answer from memory) still shows what changes
        // after it finished: its media removed, then it deleted.
        _ = try await store.find(claimed.uuid)
        #expect(try await store.find(claimed.uuid)?.results[0].mediaPath == "/m/v.mp4")
        #expect(try await store.mediaRemoved(video))
        #expect(try await store.find(claimed.uuid)?.results[0].mediaPath == nil)
        _ = try await store.find(claimed.uuid)
        #expect(try await !store.mediaRemoved(video))
        #expect(try await store.find(claimed.uuid)?.results[0].mediaPath == nil)
    }

    @Test(arguments: StoreBackend.all) func progressIsWrittenOnlyUnderTheLease(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let (store, claimed) = try await claimedTask(backend, dir, ClockBox(1000))
        try await store.setProgress(claimed.uuid, owner: "B", progress: 40)  // not B's lease
        #expect(try await store.find(claimed.uuid)?.results.map(\.progress) == [0])
        try await store.setProgress(claimed.uuid, owner: "A", progress: 40)
        #expect(try await store.find(claimed.uuid)?.results.map(\.progress) == [40])
        try await store.setProgress(claimed.uuid, owner: "A", progress: 30)  // never backwards
        #expect(try await store.find(claimed.uuid)?.results.map(\.progress) == [40])
    }

    @Test(arguments: StoreBackend.all) func aFinishedVideoReadAgainShowsItsDeletion(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try await backend.make(dir, clock)
        var task = newTask()
        task.openAI = #"{"object":"video"}"#
        #expect(try await store.submit([task]) == [.created])
        _ = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        #expect(try await store.apply(.failed(code: .contentPolicyViolation, message: "blocked", notify: nil), to: task.uuid, owner: "A"))
        for _ in 0..<2 { #expect(try await store.find(task.uuid)?.deletedAt == nil) }
        clock.now = 1005
        #expect(try await store.markVideoDeleted(task.uuid))
        #expect(try await store.find(task.uuid)?.deletedAt == 1005)
        #expect(try await !store.markVideoDeleted(task.uuid))
        #expect(try await store.find(task.uuid)?.deletedAt == 1005)
    }

    @Test(arguments: StoreBackend.all) func cancelFromAnyUnfinishedStateButNotAfter(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try await backend.make(dir, clock)
        let queued = newTask()
        _ = try await store.submit([queued])
        #expect(try await store.cancel(queued.uuid)?.state == .queued)  // the record as it was
        let cancelled = try #require(try await store.find(queued.uuid))
        #expect(cancelled.state == .cancelled && cancelled.errorCode == "taskCancelled")
        #expect(try await store.cancel(queued.uuid)?.state == .cancelled)
        #expect(try await store.events(queued.uuid).filter { $0.state == .cancelled }.count == 1)
        #expect(try await store.claim(owner: "A", leaseSeconds: 30) == nil)
        #expect(try await store.cancel("no-such-task") == nil)
    }
}

/// What only SQLite can show: a row the code cannot read is an error, never a silent `failed`.
@Suite("SQLite store")
struct SQLiteStoreTests {
    /// A store holding task t1 (result v1), and a raw connection to break its rows with.
    func storeWithOneTask(_ dir: TempDirectory) async throws -> (SQLiteTaskStore, Database) {
        let store = try SQLiteTaskStore(path: dir.file("t.db"))
        let task = NewTask(uuid: "t1", apiKeyName: "k", model: "m", requestJSON: "{}", requestHash: "h", format: "MP4", seeds: [1],
                           videoUUIDs: ["v1"], parentVideoUUID: nil, maxInFlight: nil)
        _ = try await store.submit([task])
        return (store, try Database(path: dir.file("t.db")))
    }

    /// Migration 14 (results found by the task's sequence number): a database as version 13
    /// left it keeps every task's results, media and lineage, and new tasks number on after it.
    @Test func resultsSurviveTheMoveToSequenceNumbers() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        do {
            let old = try Database(path: dir.file("t.db"))
            #expect(try Schema.migrator.migrate(old, upTo: 13) == 13)
            try old.execute("""
                INSERT INTO tasks (uuid, api_key_name, model, request_json, request_hash, state, created_at, updated_at, next_attempt_at,
                                   parent_video_uuid)
                VALUES ('parent', 'k', 'm', '{"positivePrompt":"first"}', 'h', 'succeeded', 1, 2, 1, NULL),
                       ('child', 'k', 'm', '{"positivePrompt":"second"}', 'h', 'queued', 3, 3, 3, 'v-p0');
                INSERT INTO results (video_uuid, task_uuid, idx, seed, state, progress, format, media_path, media_bytes, ready_at, expires_at, cost)
                VALUES ('v-p1', 'parent', 1, 12, 'ready', 100, 'MP4', '/m/v-p1', 20, 2, 500, 0.5),
                       ('v-p0', 'parent', 0, 11, 'ready', 100, 'MP4', '/m/v-p0', 10, 2, 400, 0.5),
                       ('v-c0', 'child', 0, 21, 'pending', 0, 'MP4', NULL, NULL, NULL, NULL, NULL);
                """)
        }
        let store = try SQLiteTaskStore(path: dir.file("t.db"))
        let parent = try #require(try await store.find("parent"))
        #expect(parent.results.map(\.videoUUID) == ["v-p0", "v-p1"])
        #expect(parent.results.map(\.seed) == [11, 12] && parent.results.allSatisfy { $0.state == .ready })
        #expect(try await store.find("child")?.results.map(\.videoUUID) == ["v-c0"])
        let lineage = try await store.lineage(of: "v-c0").map(\.videoUUID)
        #expect(lineage == ["v-p0", "v-c0"], "\(lineage)")
        #expect(try await store.expiredMedia(before: 1000, limit: 10, skipping: 0).map(\.id) == ["v-p0", "v-p1"])

        let next = NewTask(uuid: "next", apiKeyName: "k", model: "m", requestJSON: "{}", requestHash: "h", format: "MP4", seeds: [1, 2],
                           videoUUIDs: ["v-n0", "v-n1"], parentVideoUUID: nil, maxInFlight: nil)
        #expect(try await store.submit([next]) == [.created])
        #expect(try await store.find("next")?.results.map(\.videoUUID) == ["v-n0", "v-n1"])
        let raw = try Database(path: dir.file("t.db"))
        #expect(try raw.query("SELECT uuid, seq FROM tasks ORDER BY seq").map { $0["uuid"].string ?? "" } == ["parent", "child", "next"])
        #expect(try raw.scalar("SELECT count(*) FROM results").int == 5)
        let indexes = try raw.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'results' ORDER BY name").map { $0["name"].string ?? "" }
        #expect(indexes.contains("results_media_expiry") && indexes.count == 3, "\(indexes)")  // and the two autoindexes
        #expect(try raw.query("PRAGMA foreign_key_check").isEmpty)
        #expect(try raw.scalar("PRAGMA integrity_check").string == "ok")
    }

    /// A result whose task row was deleted by hand (foreign keys off) has no number to move to:
    /// migration 14 stops and says so, and the database stays as it was.
    @Test func aResultWithoutItsTaskStopsTheMoveToSequenceNumbers() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let old = try Database(path: dir.file("t.db"))
        #expect(try Schema.migrator.migrate(old, upTo: 13) == 13)
        try old.execute("PRAGMA foreign_keys = OFF")
        try old.execute("""
            INSERT INTO results (video_uuid, task_uuid, idx, seed, state, format, media_path) VALUES ('v-o', 'gone', 0, 1, 'ready', 'MP4', '/m/v-o')
            """)
        let refusal = #expect(throws: SQLiteError.self) { try SQLiteTaskStore(path: dir.file("t.db")) }
        #expect(refusal?.message.contains("1 results belong to no task") == true, "\(String(describing: refusal))")
        #expect(try old.scalar("PRAGMA user_version").int == 13)
        #expect(try old.scalar("SELECT media_path FROM results WHERE video_uuid = 'v-o'").string == "/m/v-o")
    }

    @Test func aRowWithAnUnknownStateIsAnError() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let (store, raw) = try await storeWithOneTask(dir)
        try raw.execute("UPDATE tasks SET state = 'exploded' WHERE uuid = 't1'")
        await #expect(throws: StoreError.undecodable(table: "tasks", column: "state", value: "exploded")) { try await store.find("t1") }
    }

    /// The media sweep forgets a file whatever else its row holds: one unreadable result row
    /// must not stop every later sweep (and with it the disk budget).
    @Test func mediaOfAnUnreadableResultIsStillForgotten() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let (store, raw) = try await storeWithOneTask(dir)
        try raw.execute("UPDATE results SET state = 'exploded', media_path = '/m/v1.mp4', expires_at = 1 WHERE video_uuid = 'v1'")
        #expect(try await store.mediaRemoved("v1"))
        #expect(try raw.scalar("SELECT media_path FROM results WHERE video_uuid = 'v1'").isNull)
    }

    /// ... and one such row does not stop the queue: the claim that meets it sets it aside and
    /// says why, and the next claim takes the next task.
    @Test func anUnreadableTaskIsSetAsideAndTheQueueGoesOn() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try SQLiteTaskStore(path: dir.file("t.db"), clock: { clock.now })
        func task(_ uuid: String) -> NewTask {
            NewTask(uuid: uuid, apiKeyName: "k", model: "m", requestJSON: "{}", requestHash: "h", format: "MP4", seeds: [1],
                    videoUUIDs: ["v-\(uuid)"], parentVideoUUID: nil, maxInFlight: nil)
        }
        _ = try await store.submit([task("bad")])
        clock.now += 1
        _ = try await store.submit([task("good")])
        let raw = try Database(path: dir.file("t.db"))
        try raw.execute("UPDATE results SET state = 'exploded' WHERE task_uuid = 'bad'")
        clock.now += 1
        await #expect(throws: StoreError.quarantined(table: "tasks", id: "bad", cause: .undecodable(table: "results", column: "state", value: "exploded"))) {
            try await store.claim(owner: "A", leaseSeconds: 30)
        }
        #expect(try await store.inFlight(keyName: "k") == 1)  // the set-aside task no longer counts
        #expect(try await store.claim(owner: "A", leaseSeconds: 30)?.uuid == "good")
        // However late, only the good one comes back (its lease expired); the bad one never does.
        clock.now += 100_000
        #expect(try await store.claim(owner: "B", leaseSeconds: 30)?.uuid == "good")
        #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)
        // A restart makes every lease claimable at once, but not a set-aside row's.
        try store.releaseAllLeases()
        #expect(try await store.claim(owner: "C", leaseSeconds: 30)?.uuid == "good")
        #expect(try await store.claim(owner: "C", leaseSeconds: 30) == nil)
    }

    /// A task's whole life costs the same however many tasks the database holds: none of its
    /// statements steps through a table, nor through a range of an index that grows with it (a
    /// claim of a parked task through `tasks_queue` instead of `tasks_parked` stepped through
    /// every running task a worker holds). (Storing a video once scanned every task ever taken, so a burst of results waited on
    /// the size of the table.)
    @Test func aTasksLifeCostsTheSameWhateverTheDatabaseHolds() async throws {
        let few = try await workOfOneTasksLife(besideTasks: 100)
        let many = try await workOfOneTasksLife(besideTasks: 1_000)
        #expect(few.fullScanSteps == 0)
        #expect(many.fullScanSteps == 0)
        // A step through an index range costs several operations per row: 900 more tasks in one
        // would add thousands. (Counts differ by a few between databases of different depth.)
        #expect(abs(many.virtualMachineSteps - few.virtualMachineSteps) < 100, "some statement's work grows with the number of tasks")
    }

    /// Runs one task from submit to media removal beside `others` running tasks (each under the
    /// same owner's lease, with a result holding media): what its statements did.
    private func workOfOneTasksLife(besideTasks others: Int) async throws -> StatementWork {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let pool = try DatabasePool(path: dir.file("t.db"), migrator: Schema.migrator)
        let store = SQLiteTaskStore(pool: pool, clock: { clock.now })
        func task(_ uuid: String) -> NewTask {
            NewTask(uuid: uuid, apiKeyName: "k", model: "m", requestJSON: "{}", requestHash: "h", format: "MP4", seeds: [1],
                    videoUUIDs: ["v-\(uuid)"], parentVideoUUID: nil, maxInFlight: nil)
        }
        _ = try await store.submit((0..<others).map { task("other-\($0)") })
        try pool.writeUnbatched { db in
            try db.execute("UPDATE tasks SET state = 'running', lease_owner = 'A', lease_expires_at = 1e9 WHERE uuid LIKE 'other-%'")
            try db.execute("UPDATE results SET media_path = '/m/' || video_uuid, media_bytes = 1, expires_at = 1e9 WHERE task_uuid LIKE 'other-%'")
        }
        clock.now += 1
        let before = pool.statementWork()
        _ = try await store.submit([task("t")])

        let claimed = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        #expect(claimed.uuid == "t")
        #expect(try await store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["up-1"]), deadline: 5000), to: "t", owner: "A"))
        #expect(try await store.park("t", owner: "A", until: clock.now, pollInterval: 1))
        #expect(try await store.claim(owner: "A", leaseSeconds: 30)?.uuid == "t")
        try await store.setProgress("t", owner: "A", progress: 50)
        #expect(try await store.apply(.upstreamFinished, to: "t", owner: "A"))
        #expect(try await store.markResultReady("v-t", owner: "A", media: StoredVideo(path: "/m/v-t", bytes: 1, expiresAt: 1500, cost: 0.1)))
        let hook = NewDelivery(videoUUID: "v-t", kind: .webhook, url: "https://hooks.example/x", messageID: "msg_v-t")
        #expect(try await store.apply(.resultsStored(deliveries: [hook]), to: "t", owner: "A"))
        let delivery = try #require(try await store.claimDeliveries(owner: "D", leaseSeconds: 30, quota: DeliveryQuota(total: 4, perKey: 4, perHost: 4)).first)
        let attempt = DeliveryAttempt(at: 1001, targetHost: "hooks.example", statusCode: 200, latencyMilliseconds: 3, error: nil)
        #expect(try await store.recordAttempt(delivery, owner: "D", attempt: attempt, outcome: .delivered))
        let done = try #require(try await store.find("t"))
        #expect(done.state == .succeeded)
        #expect(try await store.findResult("v-t")?.taskUUID == "t")
        _ = try await store.history(of: done)
        #expect(try await store.lineage(of: "v-t").map(\.videoUUID) == ["v-t"])
        #expect(try await store.expiredMedia(before: 2000, limit: 10, skipping: 0).map(\.id) == ["v-t"])
        #expect(try await store.mediaRemoved("v-t"))
        // And one cancelled before it ran (its pending result failed through the task's number).
        _ = try await store.submit([task("c")])
        #expect(try await store.cancel("c")?.uuid == "c")
        #expect(try await store.find("c")?.results.map(\.state) == [.failed])
        return pool.statementWork() - before
    }
}

/// What the ops console reads: its sessions, headline timings, and listed tasks with results.
extension StoreContractTests {
    @Test(arguments: StoreBackend.all) func consoleSessionsAreFoundUntilTheyExpireOrEnd(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try await backend.make(dir, clock)
        let session = ConsoleSession(digest: "d1", keyName: "k", keyFingerprint: "f", createdAt: 1000, expiresAt: 1060)
        try await store.createConsoleSession(session, keepingAtMost: 5)
        try await store.createConsoleSession(ConsoleSession(digest: "d2", keyName: "k", keyFingerprint: "f", createdAt: 1000, expiresAt: 2000), keepingAtMost: 5)
        #expect(try await store.consoleSession(digest: "d1") == session)
        #expect(try await store.consoleSession(digest: "nope") == nil)
        try await store.deleteConsoleSession(digest: "d2")
        #expect(try await store.consoleSession(digest: "d2") == nil)
        try await store.deleteConsoleSession(digest: "d2")  // twice is fine
        clock.now = 1060
        #expect(try await store.consoleSession(digest: "d1") == nil)  // expired

        // A key keeps at most so many: the oldest go first; another key's are not touched.
        try await store.createConsoleSession(ConsoleSession(digest: "other", keyName: "k2", keyFingerprint: "f", createdAt: 1061, expiresAt: 9000), keepingAtMost: 2)
        for n in 0..<4 {
            try await store.createConsoleSession(ConsoleSession(digest: "s\(n)", keyName: "k", keyFingerprint: "f", createdAt: 1061 + Double(n), expiresAt: 9000), keepingAtMost: 2)
        }
        for (digest, kept) in [("s0", false), ("s1", false), ("s2", true), ("s3", true)] {
            #expect(try await (store.consoleSession(digest: digest) != nil) == kept, "\(digest)")
        }
        #expect(try await store.consoleSession(digest: "other") != nil)
    }

    @Test(arguments: StoreBackend.all) func timingsAndListedTasksComeWithWhatTheConsoleShows(_ backend: StoreBackend) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let (store, claimed) = try await claimedTask(backend, dir, clock)
        clock.now = 1010
        #expect(try await store.submit([newTask("other", key: "k2")]) == [.created])
        #expect(try await store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["up-1"]), deadline: 5000), to: claimed.uuid, owner: "A"))
        #expect(try await store.apply(.upstreamFinished, to: claimed.uuid, owner: "A"))
        #expect(try await store.markResultReady(claimed.results[0].videoUUID, owner: "A", media: StoredVideo(path: "/m/v.mp4", bytes: 10, expiresAt: 2000, cost: 0.25)))

        let all = try await store.timings(since: 900, keyName: nil, limit: 10)
        #expect(all.map(\.createdAt) == [1010, 1000])  // newest first
        #expect(all.last?.state == .fetching)
        #expect(try await store.timings(since: 900, keyName: "k2", limit: 10).map(\.createdAt) == [1010])
        #expect(try await store.timings(since: 1005, keyName: nil, limit: 10).count == 1)
        #expect(try await store.timings(since: 900, keyName: nil, limit: 1).map(\.createdAt) == [1010])

        // A listed task has its results, as a found one does.
        let listed = try await store.list(TaskListFilter(), limit: 10, cursor: nil)
        #expect(listed.map(\.uuid) == ["other", claimed.uuid])
        let found = try #require(try await store.find(claimed.uuid))
        #expect(listed.last?.results.map(\.videoUUID) == found.results.map(\.videoUUID))
        #expect(listed.last?.results.map(\.mediaPath) == found.results.map(\.mediaPath))
        #expect(listed.last?.results.first?.cost == 0.25 && listed.first?.results.count == 1)
        #expect(listed.allSatisfy { $0.requestJSON.isEmpty } && found.requestJSON == "{}")  // a page carries no requests
    }
}
