import Domain
import Foundation
import SQLite
import Store

/// The store contract on SQLite: every SQL statement of the gateway lives in this folder.
///
/// Concurrency model: GRDB's one writer, many readers. Writes go through the pool's
/// group-committed writer queue, so each method returns once its change is durable. Point reads
/// (a task, its log, a result) run on the caller's thread on a checked-out read connection, with no
/// thread switch; scans (lists, lineage, gauges, sweeps) run on the reader queues. Lifecycle states are bound as values from ``TaskLifecycle``, never spelled
/// in SQL, so the store refuses exactly what the step function refuses.
public final class SQLiteTaskStore: TaskStore {
    let pool: DatabasePool
    let clock: @Sendable () -> Double
    /// Finished tasks polled again are answered from memory (see ``FinishedTaskCache``).
    let finished = FinishedTaskCache()

    public init(pool: DatabasePool, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.pool = pool
        self.clock = clock
    }

    /// Opens (and migrates) the database at `path`.
    public convenience init(path: String, readers: Int = 2, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.init(pool: try DatabasePool(path: path, readers: readers, migrator: Schema.migrator), clock: clock)
    }

    public var now: Double { clock() }

    // MARK: Submit

    public func submit(_ tasks: [NewTask]) async throws -> [SubmitOutcome] {
        let now = clock()
        return try await pool.write { db in
            var outcomes: [SubmitOutcome] = []
            // The last sequence number given, read once per batch (the writer is the only one to
            // give them; see Schema's migration 14).
            var seq = try db.scalar("SELECT coalesce(max(seq), 0) FROM tasks").int ?? 0
            for task in tasks {
                if let existing = try db.query("SELECT request_hash, api_key_name FROM tasks WHERE uuid = ?", [task.uuid]).first {
                    let same = existing["request_hash"].string == task.requestHash && existing["api_key_name"].string == task.apiKeyName
                    outcomes.append(same ? .duplicate : .conflict)
                    continue
                }
                if let cap = task.maxInFlight {
                    let inFlight = try db.scalar("SELECT count FROM key_inflight WHERE api_key_name = ?", [task.apiKeyName]).int ?? 0
                    if inFlight >= cap {
                        outcomes.append(.tooManyInFlight)
                        continue
                    }
                }
                try db.execute(
                    """
                    INSERT INTO key_inflight (api_key_name, count) VALUES (?, 1)
                    ON CONFLICT (api_key_name) DO UPDATE SET count = count + 1
                    """, [task.apiKeyName])
                seq += 1
                try db.execute(
                    """
                    INSERT INTO tasks (uuid, seq, api_key_name, model, request_json, request_hash, state, created_at, updated_at,
                                       next_attempt_at, parent_video_uuid, openai_json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [task.uuid, seq, task.apiKeyName, task.model, task.requestJSON, task.requestHash, TaskState.queued.rawValue, now, now, now,
                     task.parentVideoUUID, task.openAI])
                for (index, (seed, videoUUID)) in zip(task.seeds, task.videoUUIDs).enumerated() {
                    try db.execute(
                        "INSERT INTO results (video_uuid, task_uuid, task_seq, idx, seed, state, format) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [videoUUID, task.uuid, seq, index, seed, ResultState.pending.rawValue, task.format])
                }
                // No "accepted" event row: the task row records it (created_at), and ``events(_:)``
                // shows it first. One index page fewer per submit.
                outcomes.append(.created)
            }
            return outcomes
        }
    }

    // MARK: Reads

    public func find(_ uuid: String) async throws -> TaskRecord? {
        if let task = finished.get(uuid) { return task }
        let generation = finished.generation
        let task = try pool.readNow { db in try Self.load(db, uuid) }
        if let task { finished.insert(task, readAt: generation) }
        return task
    }

    static func load(_ db: Database, _ uuid: String) throws -> TaskRecord? {
        guard let row = try db.query("SELECT * FROM tasks WHERE uuid = ?", [uuid]).first else { return nil }
        var task = try TaskRecord(row: row)
        task.results = try db.query("SELECT * FROM results WHERE task_seq = ? ORDER BY idx", [row["seq"]]).map { try ResultRecord(row: $0) }
        return task
    }

    public func inFlight(keyName: String) async throws -> Int {
        try pool.readNow { db in try db.scalar("SELECT count FROM key_inflight WHERE api_key_name = ?", [keyName]).int ?? 0 }
    }

    // MARK: Leases

    public func claim(owner: String, leaseSeconds: Double) async throws -> TaskRecord? {
        let now = clock()
        let until = now + leaseSeconds
        // A result, not a throw, out of the transaction: a row set aside must stay set aside.
        // Synced: what a worker claims it may submit upstream (billed) at once, so the task's
        // own submit must be on disk first; the fsync that covers the claim covers it.
        let outcome: Result<TaskRecord?, StoreError> = try await pool.write(.synced) { db in
            // A task whose lease expired (a crashed or stalled worker) first.
            let resumable = TaskLifecycle.predecessors(of: .resumed)
            if let uuid = try db.scalar(
                "SELECT uuid FROM tasks WHERE state IN (\(Self.placeholders(resumable.count))) AND lease_expires_at < ? LIMIT 1",
                Self.bind(resumable) + [now]
            ).string {
                return try Self.take(db, uuid, owner: owner, until: until, now: now, event: .resumed)
            }
            // A parked running task whose next poll is due: not an attempt and not an event (a
            // poll is routine; the log would grow with every one).
            if let uuid = try db.scalar(
                "SELECT uuid FROM tasks INDEXED BY tasks_parked WHERE \(Self.parked) AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 1", [now]
            ).string {
                return try Self.take(db, uuid, owner: owner, until: until, now: now, event: nil)
            }
            let claimable = TaskLifecycle.predecessors(of: .claimed)
            guard let uuid = try db.scalar(
                "SELECT uuid FROM tasks WHERE state IN (\(Self.placeholders(claimable.count))) AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 1",
                Self.bind(claimable) + [now]
            ).string else { return .success(nil) }
            return try Self.take(db, uuid, owner: owner, until: until, now: now, event: .claimed)
        }
        return try outcome.get()
    }

    /// A parked task: running, held by no worker. The condition of the `tasks_parked` index: a
    /// query uses a partial index only if it states the condition (a bound state would not do),
    /// and is told to with `INDEXED BY`, since the planner rates `tasks_queue` as good. Should the
    /// two ever differ, that query fails to prepare instead of quietly scanning.
    static let parked = "state = '\(TaskState.running.rawValue)' AND lease_owner IS NULL"

    /// Puts `uuid` under `owner`'s lease, stepping it by `event` (nil: a parked task's due poll).
    /// A task the code cannot read is set aside (``quarantine(_:table:key:_:)``) and reported, so
    /// that it does not stop every later claim.
    private static func take(_ db: Database, _ uuid: String, owner: String, until: Double, now: Double, event: TaskEvent?) throws
        -> Result<TaskRecord?, StoreError>
    {
        let loaded: TaskRecord?
        do {
            loaded = try load(db, uuid)
        } catch StoreError.undecodable(let table, let column, let value) {
            try quarantine(db, task: uuid)
            return .failure(.quarantined(table: "tasks", id: uuid, cause: .undecodable(table: table, column: column, value: value)))
        }
        guard var task = loaded else { return .success(nil) }
        var next = task.state
        if let event {
            guard let step = TaskLifecycle.step(task.state, event) else { return .success(nil) }
            next = step.next
            try appendEvent(db, uuid, now, next, step.detail.map { "\($0) by \(owner)" })
        }
        let attempt = event == nil ? 0 : 1
        try db.execute(
            "UPDATE tasks SET state = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + ?, updated_at = ? WHERE uuid = ?",
            [next.rawValue, owner, until, attempt, now, uuid])
        task.claimed(by: owner, until: until, state: next, countsAsAttempt: attempt == 1, at: now)
        return .success(task)
    }

    /// The lease owner of a row set aside; start-up leaves it alone.
    static let quarantined = "quarantined"

    /// Sets a task aside for good: held by no worker and due never, so no claim takes it again,
    /// and no longer counted against its key's in-flight cap. Ops still see it (lease owner
    /// `quarantined`); repairing it is a manual job.
    static func quarantine(_ db: Database, task uuid: String) throws {
        try db.execute("UPDATE tasks SET lease_owner = ?, lease_expires_at = ?, next_attempt_at = ? WHERE uuid = ?",
                       [quarantined, Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude, uuid])
        try taskEnded(db, uuid)
    }

    public func renewLease(_ uuid: String, owner: String, leaseSeconds: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write(.deferred) { db in
            try db.execute("UPDATE tasks SET lease_expires_at = ? WHERE uuid = ? AND lease_owner = ?", [now + leaseSeconds, uuid, owner])
            return db.changes == 1
        }
    }

    public func park(_ uuid: String, owner: String, until at: Double, pollInterval: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write(.deferred) { db in
            try db.execute(
                """
                UPDATE tasks SET next_attempt_at = ?, poll_interval = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE uuid = ? AND lease_owner = ? AND state = ?
                """, [at, pollInterval, now, uuid, owner, TaskState.running.rawValue])
            return db.changes == 1
        }
    }

    public func releaseLease(_ uuid: String, owner: String) async throws {
        try await pool.write(.deferred) { db in
            try db.execute("UPDATE tasks SET lease_owner = NULL, lease_expires_at = 0 WHERE uuid = ? AND lease_owner = ?", [uuid, owner])
        }
    }

    // MARK: Lifecycle

    public func apply(_ event: TaskEvent, to uuid: String, owner: String, readying: [ReadyVideo]) async throws -> Bool {
        let now = clock()
        let write = try EventWrite(event, now: now)
        var sets: [String] = []
        var values: [any SQLiteBindable] = []
        for assignment in write.assignments {
            switch assignment {
            case .set(let column, let value):
                sets.append("\(column) = ?")
                values.append(Self.bindable(value))
            case .keepOrSet(let column, let value):
                sets.append("\(column) = coalesce(\(column), ?)")
                values.append(Self.bindable(value))
            case .refundAttempt:
                sets.append("attempts = max(attempts - 1, 0)")
            }
        }
        if write.releasesLease { sets += ["lease_owner = NULL", "lease_expires_at = NULL"] }
        let update = "UPDATE tasks SET state = ?, updated_at = ?\(sets.map { ", " + $0 }.joined()) WHERE uuid = ? AND lease_owner = ? AND state IN (\(Self.placeholders(write.predecessors.count)))"
        let arguments: [any SQLiteBindable] = [write.next.rawValue, now] + values + [uuid, owner] + Self.bind(write.predecessors)
        return try await pool.write(write.mustBeSynced ? .synced : .deferred) { db in
            try db.execute(update, arguments)
            guard db.changes == 1 else { return false }
            try write.writeSideRows(of: uuid, at: now, readying: readying, with: SQLiteLifecycleRows(db: db))
            return true
        }
    }

    static func bindable(_ value: EventWrite.Value) -> any SQLiteBindable {
        switch value {
        case .text(let text): text
        case .real(let real): real
        }
    }

    public func setProgress(_ uuid: String, owner: String, progress: Int) async throws {
        try await pool.write(.deferred) { db in
            try db.execute(
                """
                UPDATE results SET progress = ? WHERE task_seq = (SELECT seq FROM tasks WHERE uuid = ? AND lease_owner = ?)
                AND state = ? AND progress < ?
                """, [progress, uuid, owner, ResultState.pending.rawValue, progress])
        }
    }

    public func markResultReady(_ videoUUID: String, owner: String, media: StoredVideo) async throws -> Bool {
        let now = clock()
        // The lease is checked through the task's key: `task_uuid IN (SELECT … WHERE lease_owner
        // = ?)` scanned every task ever taken, once per stored video.
        return try await pool.write(.deferred) { db in
            try Self.markReady(db, ReadyVideo(videoUUID: videoUUID, media: media), now,
                               where: "EXISTS (SELECT 1 FROM tasks WHERE tasks.uuid = results.task_uuid AND tasks.lease_owner = ?)", [owner])
        }
    }

    /// Records a stored video for its result, if the result also matches `condition` (its `?`s
    /// bound to `values`).
    static func markReady(_ db: Database, _ video: ReadyVideo, _ now: Double, where condition: String, _ values: [any SQLiteBindable]) throws -> Bool {
        let media = video.media
        try db.execute(
            "UPDATE results SET state = ?, progress = 100, media_path = ?, media_bytes = ?, ready_at = ?, expires_at = ?, cost = ? WHERE video_uuid = ? AND \(condition)",
            [ResultState.ready.rawValue, media.path, media.bytes, now, media.expiresAt, media.cost, video.videoUUID] + values)
        return db.changes == 1
    }

    public func cancel(_ uuid: String) async throws -> TaskRecord? {
        let now = clock()
        let from = TaskLifecycle.predecessors(of: .cancelled)
        return try await pool.write { db in
            guard let task = try Self.load(db, uuid) else { return nil }
            guard let step = TaskLifecycle.step(task.state, .cancelled) else { return task }
            try db.execute(
                """
                UPDATE tasks SET state = ?, updated_at = ?, error_code = ?, error_message = ?, lease_owner = NULL, lease_expires_at = NULL
                WHERE uuid = ? AND state IN (\(Self.placeholders(from.count)))
                """, [step.next.rawValue, now, APIErrorCode.taskCancelled.name, "cancelled by request", uuid] + Self.bind(from))
            guard db.changes == 1 else { return task }
            try Self.failPendingResults(db, uuid, code: APIErrorCode.taskCancelled.name, message: "cancelled by request")
            try Self.appendEvent(db, uuid, now, step.next, step.detail)
            // A task set aside already gave its key's slot back.
            if task.leaseOwner != Self.quarantined { try Self.taskEnded(db, uuid) }
            return task
        }
    }

    // MARK: Helpers

    /// The side rows of a lifecycle event, on SQLite.
    struct SQLiteLifecycleRows: LifecycleRowWriter {
        let db: Database
        func insertDeliveries(_ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws { try SQLiteTaskStore.insertDeliveries(db, uuid, deliveries, now) }
        func failPendingResults(_ uuid: String, code: String, message: String) throws {
            try SQLiteTaskStore.failPendingResults(db, uuid, code: code, message: message)
        }
        func appendEvent(_ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws { try SQLiteTaskStore.appendEvent(db, uuid, at, state, detail) }
        func taskEnded(_ uuid: String) throws { try SQLiteTaskStore.taskEnded(db, uuid) }
        // The event's own UPDATE checked the lease in this transaction.
        func markResultReady(_ uuid: String, _ video: ReadyVideo, _ now: Double) throws -> Bool {
            try SQLiteTaskStore.markReady(db, video, now, where: "task_uuid = ? AND state = ?", [uuid, ResultState.pending.rawValue])
        }
    }

    static func failPendingResults(_ db: Database, _ uuid: String, code: String, message: String) throws {
        try db.execute("UPDATE results SET state = ?, error_code = ?, error_message = ? WHERE task_seq = \(seqOf) AND state = ?",
                       [ResultState.failed.rawValue, code, message, uuid, ResultState.pending.rawValue])
    }

    /// A task's sequence number, which its results are found by, from its UUID bound in its place.
    static let seqOf = "(SELECT seq FROM tasks WHERE uuid = ?)"

    /// A task reached a terminal state: one fewer unfinished task for its key.
    static func taskEnded(_ db: Database, _ uuid: String) throws {
        try db.execute(
            "UPDATE key_inflight SET count = max(count - 1, 0) WHERE api_key_name = (SELECT api_key_name FROM tasks WHERE uuid = ?)", [uuid])
    }

    static func appendEvent(_ db: Database, _ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws {
        try db.execute("INSERT INTO task_events (task_uuid, at, state, detail) VALUES (?, ?, ?, ?)", [uuid, at, state.rawValue, detail])
    }

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    static func bind(_ states: [TaskState]) -> [any SQLiteBindable] { states.map(\.rawValue) }
}
