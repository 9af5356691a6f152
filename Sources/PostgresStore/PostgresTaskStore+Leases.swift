import Domain
import Postgres
import Store

/// Claims, leases and lifecycle events: what several instances contend for. A claim locks the
/// row it takes with `FOR UPDATE SKIP LOCKED`, so instances claiming at once take different
/// tasks and never wait for each other; every write under a lease checks the owner in the same
/// statement.
extension PostgresTaskStore {
    /// The states a task whose lease expired is resumed from, each bound as a scalar (an index
    /// scan per state; `= ANY($1)` in a generic plan scanned the table).
    static let resumable = TaskLifecycle.predecessors(of: .resumed)

    /// The claim of a parked task (running, held by no instance) whose poll is due, `$1` the
    /// time. Its condition is the `tasks_parked` index's, spelled out: the prepared statement's
    /// generic plan, with the state bound, could not use that partial index. (Public for the test
    /// that plans it.)
    public static let parkedClaim = "SELECT * FROM tasks WHERE state = '\(TaskState.running.rawValue)' AND lease_owner IS NULL "
        + "AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED"

    /// The one state a task is claimed from (checked against the lifecycle once).
    static let claimableState: TaskState = {
        let states = TaskLifecycle.predecessors(of: .claimed)
        precondition(states.count == 1, "a claim is from one state")
        return states[0]
    }()

    public func claim(owner: String, leaseSeconds: Double) async throws -> TaskRecord? {
        let now = self.now
        let until = now + leaseSeconds
        // A result, not a throw, out of the transaction: a row set aside must stay set aside.
        let outcome = try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Result<TaskRecord?, StoreError> in
            // A task whose lease expired (a crashed or stalled instance) first, then a parked
            // running task whose poll is due, then the oldest due queued task.
            let candidates: [(String, [String?], TaskEvent?)] = [
                ("SELECT * FROM tasks WHERE state IN (\(Self.resumable.indices.map { "$\($0 + 1)" }.joined(separator: ", "))) AND lease_expires_at < $\(Self.resumable.count + 1) LIMIT 1 FOR UPDATE SKIP LOCKED",
                 Self.resumable.map(\.rawValue) + [String(now)], .resumed),
                (Self.parkedClaim, [String(now)], nil),
                // One state, bound as a scalar: `state = ANY($1)` in a generic plan cannot walk the
                // (state, next_attempt_at) index in order, and sorted every due task instead.
                ("SELECT * FROM tasks WHERE state = $1 AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                 [Self.claimableState.rawValue, String(now)], .claimed),
            ]
            for (index, (sql, parameters, event)) in candidates.enumerated() {
                let found = try db.execute(prepared: "claim_\(index)", sql, parameters)
                guard found.count > 0 else { continue }
                let uuid = try found.row(0).string("uuid") ?? ""
                let results = try db.execute(prepared: "find_results", "SELECT * FROM results WHERE task_uuid = $1 ORDER BY idx", [uuid]).allRows
                var task: TaskRecord
                do {
                    task = try TaskRecord(columns: PostgresColumns(row: found.row(0)))
                    task.results = try results.map { try ResultRecord(columns: PostgresColumns(row: $0)) }
                } catch {
                    try Self.quarantine(db, task: uuid)
                    let cause = error as? StoreError ?? .undecodable(table: "tasks", column: "?", value: "\(error)")
                    return .failure(.quarantined(table: "tasks", id: uuid, cause: cause))
                }
                var next = task.state
                if let event {
                    guard let step = TaskLifecycle.step(task.state, event) else { return .success(nil) }
                    next = step.next
                    try Self.appendEvent(db, uuid, now, next, step.detail.map { "\($0) by \(owner)" })
                }
                let attempt = event == nil ? 0 : 1
                try db.execute(
                    prepared: "take",
                    "UPDATE tasks SET state = $1, lease_owner = $2, lease_expires_at = $3, attempts = attempts + $4, updated_at = $5 WHERE uuid = $6",
                    [next.rawValue, owner, String(until), String(attempt), String(now), uuid])
                task.claimed(by: owner, until: until, state: next, countsAsAttempt: attempt == 1, at: now)
                return .success(task)
            }
            return .success(nil)
        }
        return try outcome.get()
    }

    /// Sets a task aside for good (held by no worker, due never) and frees its key's slot: one
    /// bad row must not stop every later claim. Ops still see it (lease owner `quarantined`).
    static func quarantine(_ db: PostgresConnection, task uuid: String) throws(PostgresError) {
        let never = String(Double.greatestFiniteMagnitude)
        try db.execute("UPDATE tasks SET lease_owner = $1, lease_expires_at = $2, next_attempt_at = $2 WHERE uuid = $3", [quarantined, never, uuid])
        try taskEnded(db, uuid)
    }

    public func renewLease(_ uuid: String, owner: String, leaseSeconds: Double) async throws -> Bool {
        let until = now + leaseSeconds
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute(prepared: "renew", "UPDATE tasks SET lease_expires_at = $1 WHERE uuid = $2 AND lease_owner = $3", [String(until), uuid, owner])
                .affectedRows == 1
        }
    }

    public func park(_ uuid: String, owner: String, until at: Double, pollInterval: Double) async throws -> Bool {
        let now = self.now
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute(
                prepared: "park",
                """
                UPDATE tasks SET next_attempt_at = $1, poll_interval = $2, lease_owner = NULL, lease_expires_at = NULL, updated_at = $3
                WHERE uuid = $4 AND lease_owner = $5 AND state = $6
                """, [String(at), String(pollInterval), String(now), uuid, owner, TaskState.running.rawValue]
            ).affectedRows == 1
        }
    }

    public func releaseLease(_ uuid: String, owner: String) async throws {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            _ = try db.execute(prepared: "release", "UPDATE tasks SET lease_owner = NULL, lease_expires_at = 0 WHERE uuid = $1 AND lease_owner = $2",
                           [uuid, owner])
        }
    }

    /// A worker's lifecycle event (``EventWrite``): refused (false, nothing written) unless
    /// `owner` holds the lease and the task is in a state the event may happen in.
    public func apply(_ event: TaskEvent, to uuid: String, owner: String, readying: [ReadyVideo]) async throws -> Bool {
        let now = self.now
        let write = try EventWrite(event, now: now)
        var sets: [String] = []
        var values: [String?] = [write.next.rawValue, String(now)]
        for assignment in write.assignments {
            switch assignment {
            case .set(let column, let value):
                values.append(Self.text(value))
                sets.append("\(column) = $\(values.count)\(Self.cast(value))")
            case .keepOrSet(let column, let value):
                values.append(Self.text(value))
                sets.append("\(column) = coalesce(\(column), $\(values.count)\(Self.cast(value)))")
            case .refundAttempt:
                sets.append("attempts = greatest(attempts - 1, 0)")
            }
        }
        if write.releasesLease { sets += ["lease_owner = NULL", "lease_expires_at = NULL"] }
        values += [uuid, owner, Self.array(write.predecessors)]
        let n = values.count
        let update = "UPDATE tasks SET state = $1, updated_at = $2\(sets.map { ", " + $0 }.joined()) WHERE uuid = $\(n - 2) AND lease_owner = $\(n - 1) AND state = ANY($\(n)::text[])"
        let arguments = values
        // A StoreError from the side rows rolls the transaction back (as a PostgresError) and is
        // then thrown as itself, as the SQLite store does.
        let refusal = StoreErrorBox()
        do {
            return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Bool in
                guard try db.execute(update, arguments).affectedRows == 1 else { return false }
                do {
                    try write.writeSideRows(of: uuid, at: now, readying: readying, with: PostgresLifecycleRows(db: db))
                } catch let error as PostgresError {
                    throw error
                } catch let error as StoreError {
                    refusal.error = error
                    throw PostgresError(.statement, message: "\(error)")
                } catch {
                    throw PostgresError(.statement, message: "\(error)")
                }
                return true
            }
        } catch {
            if let refused = refusal.error { throw refused }
            throw error
        }
    }

    /// Carries a StoreError out of a transaction's closure; set once, read after it ended.
    private final class StoreErrorBox: @unchecked Sendable {
        var error: StoreError?
    }

    static func text(_ value: EventWrite.Value) -> String {
        switch value {
        case .text(let text): text
        case .real(let real): String(real)
        }
    }

    static func cast(_ value: EventWrite.Value) -> String {
        if case .real = value { return "::double precision" }
        return ""
    }

    public func setProgress(_ uuid: String, owner: String, progress: Int) async throws {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            _ = try db.execute(
                prepared: "progress",
                """
                UPDATE results SET progress = $1 WHERE task_uuid = $2 AND state = $3 AND progress < $1
                AND task_uuid IN (SELECT uuid FROM tasks WHERE uuid = $2 AND lease_owner = $4)
                """, [String(progress), uuid, ResultState.pending.rawValue, owner])
        }
    }

    /// Under the lease, in one transaction that locks the task row first: a cancel or another
    /// owner's claim in between is seen, and a result that is no longer pending is left alone.
    public func markResultReady(_ videoUUID: String, owner: String, media: StoredVideo) async throws -> Bool {
        let now = self.now
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Bool in
            let held = try db.execute(
                prepared: "result_lease",
                "SELECT t.uuid FROM tasks t JOIN results r ON r.task_uuid = t.uuid WHERE r.video_uuid = $1 AND t.lease_owner = $2 FOR SHARE OF t",
                [videoUUID, owner])
            guard held.count == 1 else { return false }
            return try Self.markReady(db, ReadyVideo(videoUUID: videoUUID, media: media), now, task: nil)
        }
    }

    /// Records a stored video for its pending result (of `task`, when given).
    static func markReady(_ db: PostgresConnection, _ video: ReadyVideo, _ now: Double, task: String?) throws(PostgresError) -> Bool {
        let media = video.media
        return try db.execute(
            prepared: "result_ready",
            """
            UPDATE results SET state = $1, progress = 100, media_path = $2, media_bytes = $3, ready_at = $4, expires_at = $5, cost = $6
            WHERE video_uuid = $7 AND state = $8 AND ($9::text IS NULL OR task_uuid = $9)
            """, [ResultState.ready.rawValue, media.path, String(media.bytes), String(now), String(media.expiresAt), String(media.cost), video.videoUUID,
                  ResultState.pending.rawValue, task]
        ).affectedRows == 1
    }

    // MARK: Helpers

    /// The side rows of a lifecycle event, on PostgreSQL.
    struct PostgresLifecycleRows: LifecycleRowWriter {
        let db: PostgresConnection
        // The event's own UPDATE locked the task under its lease in this transaction.
        func markResultReady(_ uuid: String, _ video: ReadyVideo, _ now: Double) throws -> Bool {
            try PostgresTaskStore.markReady(db, video, now, task: uuid)
        }
        func insertDeliveries(_ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws {
            try PostgresTaskStore.insertDeliveries(db, uuid, deliveries, now)
        }
        func failPendingResults(_ uuid: String, code: String, message: String) throws {
            try PostgresTaskStore.failPendingResults(db, uuid, code: code, message: message)
        }
        func appendEvent(_ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws {
            try PostgresTaskStore.appendEvent(db, uuid, at, state, detail)
        }
        func taskEnded(_ uuid: String) throws { try PostgresTaskStore.taskEnded(db, uuid) }
    }

    /// States as a PostgreSQL text array literal (`{queued,running}`): identifiers, never quoted.
    static func array(_ states: [TaskState]) -> String { "{" + states.map(\.rawValue).joined(separator: ",") + "}" }

    static func failPendingResults(_ db: PostgresConnection, _ uuid: String, code: String, message: String) throws(PostgresError) {
        try db.execute(prepared: "fail_pending", "UPDATE results SET state = $1, error_code = $2, error_message = $3 WHERE task_uuid = $4 AND state = $5",
                       [ResultState.failed.rawValue, code, message, uuid, ResultState.pending.rawValue])
    }

    /// A task reached a terminal state: one fewer unfinished task for its key.
    static func taskEnded(_ db: PostgresConnection, _ uuid: String) throws(PostgresError) {
        try db.execute(
            prepared: "task_ended",
            """
            INSERT INTO key_inflight_shards AS k (api_key_name, shard, count) SELECT api_key_name, $2::integer, -1 FROM tasks t WHERE uuid = $1
              AND (SELECT coalesce(sum(count), 0) FROM key_inflight_shards WHERE api_key_name = t.api_key_name) > 0
            ON CONFLICT (api_key_name, shard) DO UPDATE SET count = k.count - 1
            """, [uuid, String(Int.random(in: 0..<inFlightShards))])
    }

    static func appendEvent(_ db: PostgresConnection, _ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws(PostgresError) {
        try db.execute(prepared: "append_event", "INSERT INTO task_events (task_uuid, at, state, detail) VALUES ($1, $2, $3, $4)",
                       [uuid, String(at), state.rawValue, detail])
    }

    static func insertDeliveries(_ db: PostgresConnection, _ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws(PostgresError) {
        if !deliveries.isEmpty { try notify(db, .deliveries) }
        for d in deliveries {
            try db.execute(
                prepared: "insert_delivery",
                """
                INSERT INTO deliveries (task_uuid, video_uuid, kind, url, message_id, state, next_attempt_at, target_host)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
                """, [uuid, d.videoUUID, d.kind.rawValue, d.url, d.messageID, DeliveryRecord.State.pending.rawValue, String(now),
                      URLHost.of(d.url).lowercased()])
        }
    }
}
