import Domain
import Postgres
import Store

/// Claims, leases and lifecycle events: what several instances contend for. A claim locks the
/// row it takes with `FOR UPDATE SKIP LOCKED`, so instances claiming at once take different
/// tasks and never wait for each other; every write under a lease checks the owner in the same
/// statement.
extension PostgresTaskStore {
    public func claim(owner: String, leaseSeconds: Double) async throws -> TaskRecord? {
        let now = self.now
        let until = now + leaseSeconds
        let row = try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> (PostgresRow, [PostgresRow], TaskEvent?)? in
            // A task whose lease expired (a crashed or stalled instance) first, then a parked
            // running task whose poll is due, then the oldest due queued task.
            let candidates: [(String, [String?], TaskEvent?)] = [
                ("SELECT * FROM tasks WHERE state = ANY($1::text[]) AND lease_expires_at < $2 LIMIT 1 FOR UPDATE SKIP LOCKED",
                 [Self.array(TaskLifecycle.predecessors(of: .resumed)), String(now)], .resumed),
                ("SELECT * FROM tasks WHERE state = $1 AND lease_owner IS NULL AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                 [TaskState.running.rawValue, String(now)], nil),
                ("SELECT * FROM tasks WHERE state = ANY($1::text[]) AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                 [Self.array(TaskLifecycle.predecessors(of: .claimed)), String(now)], .claimed),
            ]
            for (index, (sql, parameters, event)) in candidates.enumerated() {
                let found = try db.execute(prepared: "claim_\(index)", sql, parameters)
                guard found.count > 0 else { continue }
                let task = found.row(0)
                let uuid = try task.string("uuid") ?? ""
                var next = try task.string("state") ?? ""
                if let event {
                    guard let state = TaskState(rawValue: next), let step = TaskLifecycle.step(state, event) else { return nil }
                    next = step.next.rawValue
                    try Self.appendEvent(db, uuid, now, step.next, step.detail.map { "\($0) by \(owner)" })
                }
                try db.execute(
                    prepared: "take",
                    "UPDATE tasks SET state = $1, lease_owner = $2, lease_expires_at = $3, attempts = attempts + $4, updated_at = $5 WHERE uuid = $6",
                    [next, owner, String(until), event == nil ? "0" : "1", String(now), uuid])
                let taken = try db.execute(prepared: "find_task", "SELECT * FROM tasks WHERE uuid = $1", [uuid]).row(0)
                let results = try db.execute(prepared: "find_results", "SELECT * FROM results WHERE task_uuid = $1 ORDER BY idx", [uuid]).allRows
                return (taken, results, event)
            }
            return nil
        }
        guard let (task, results, _) = row else { return nil }
        var record = try TaskRecord(columns: PostgresColumns(row: task))
        record.results = try results.map { try ResultRecord(columns: PostgresColumns(row: $0)) }
        return record
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
            try db.execute(prepared: "release", "UPDATE tasks SET lease_owner = NULL, lease_expires_at = 0 WHERE uuid = $1 AND lease_owner = $2",
                           [uuid, owner])
        }
    }

    /// A worker's lifecycle event, as the SQLite store applies it: refused (false, nothing
    /// written) unless `owner` holds the lease and the task is in a state the event may happen in.
    public func apply(_ event: TaskEvent, to uuid: String, owner: String) async throws -> Bool {
        switch event {
        case .claimed, .resumed, .cancelled, .deliveriesSettled: throw StoreError.notAWorkerEvent("\(event)")
        default: break
        }
        let predecessors = TaskLifecycle.predecessors(of: event)
        let targets = Set(predecessors.compactMap { TaskLifecycle.step($0, event)?.next })
        guard let next = targets.first, targets.count == 1 else { throw StoreError.notAWorkerEvent("\(event)") }
        let detail = TaskLifecycle.step(predecessors[0], event)?.detail
        let now = self.now
        var sets: [String] = []
        var values: [String?] = [next.rawValue, String(now)]
        func set(_ column: String, _ value: String?, _ expression: String = "$") {
            values.append(value)
            sets.append("\(column) = \(expression.replacingOccurrences(of: "$", with: "$\(values.count)"))")
        }
        switch event {
        case .submitted(let provider, let upstream, let deadline):
            set("provider", provider)
            set("upstream_id", upstream.stored)
            set("dispatched_at", String(now), "coalesce(dispatched_at, $::double precision)")
            set("deadline_at", String(deadline))
        case .waitingForCapacity(_, let retryAt):
            set("next_attempt_at", String(retryAt))
            sets.append("attempts = greatest(attempts - 1, 0)")
        case .retryScheduled(let at, _):
            set("next_attempt_at", String(at))
        case .failed(let code, let message, _):
            set("error_code", code.name)
            set("error_message", message)
        default:
            break
        }
        if next == .queued || next == .delivering || next.isTerminal { sets += ["lease_owner = NULL", "lease_expires_at = NULL"] }
        values += [uuid, owner, Self.array(predecessors)]
        let n = values.count
        let update = "UPDATE tasks SET state = $1, updated_at = $2\(sets.map { ", " + $0 }.joined()) WHERE uuid = $\(n - 2) AND lease_owner = $\(n - 1) AND state = ANY($\(n)::text[])"
        let arguments = values
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Bool in
            guard try db.execute(update, arguments).affectedRows == 1 else { return false }
            switch event {
            case .resultsStored(let deliveries):
                try Self.insertDeliveries(db, uuid, deliveries, now)
            case .failed(let code, let message, let notify):
                try Self.failPendingResults(db, uuid, code: code.name, message: message)
                try Self.insertDeliveries(db, uuid, notify.map { [$0] } ?? [], now)
            default:
                break
            }
            if let detail { try Self.appendEvent(db, uuid, now, next, detail) }
            if next.isTerminal { try Self.taskEnded(db, uuid) }
            return true
        }
    }

    public func setProgress(_ uuid: String, progress: Int) async throws {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            try db.execute(prepared: "progress", "UPDATE results SET progress = $1 WHERE task_uuid = $2 AND state = $3 AND progress < $1",
                           [String(progress), uuid, ResultState.pending.rawValue])
        }
    }

    public func markResultReady(_ videoUUID: String, owner: String, media: StoredVideo) async throws -> Bool {
        let now = self.now
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute(
                prepared: "result_ready",
                """
                UPDATE results SET state = $1, progress = 100, media_path = $2, media_bytes = $3, ready_at = $4, expires_at = $5, cost = $6
                WHERE video_uuid = $7 AND task_uuid IN (SELECT uuid FROM tasks WHERE lease_owner = $8)
                """, [ResultState.ready.rawValue, media.path, String(media.bytes), String(now), String(media.expiresAt), String(media.cost), videoUUID, owner]
            ).affectedRows == 1
        }
    }

    // MARK: Helpers

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
            "UPDATE key_inflight SET count = greatest(count - 1, 0) WHERE api_key_name = (SELECT api_key_name FROM tasks WHERE uuid = $1)", [uuid])
    }

    static func appendEvent(_ db: PostgresConnection, _ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws(PostgresError) {
        try db.execute(prepared: "append_event", "INSERT INTO task_events (task_uuid, at, state, detail) VALUES ($1, $2, $3, $4)",
                       [uuid, String(at), state.rawValue, detail])
    }

    static func insertDeliveries(_ db: PostgresConnection, _ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws(PostgresError) {
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
