import Domain
import Foundation
import SQLite

/// Every SQL statement about tasks lives here; callers speak in tasks, results and leases.
///
/// Writes go through the pool's group-committed writer, so each method returns only once its
/// change is durable; reads use the reader connections.
public final class TaskStore: Sendable {
    let pool: DatabasePool
    private let clock: @Sendable () -> Double

    public init(pool: DatabasePool, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.pool = pool
        self.clock = clock
    }

    public var now: Double { clock() }

    // MARK: Submit

    /// Stores accepted tasks (one durable batch); a repeated taskUUID is a duplicate or a conflict.
    public func submit(_ tasks: [NewTask]) async throws -> [SubmitOutcome] {
        let now = clock()
        return try await pool.write { db in
            var outcomes: [SubmitOutcome] = []
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
                try db.execute(
                    """
                    INSERT INTO tasks (uuid, api_key_name, model, request_json, request_hash, state, created_at, updated_at,
                                       next_attempt_at, parent_video_uuid)
                    VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
                    """,
                    [task.uuid, task.apiKeyName, task.model, task.requestJSON, task.requestHash, now, now, now, task.parentVideoUUID])
                for (index, (seed, videoUUID)) in zip(task.seeds, task.videoUUIDs).enumerated() {
                    try db.execute(
                        "INSERT INTO results (video_uuid, task_uuid, idx, seed, state, format) VALUES (?, ?, ?, ?, 'pending', ?)",
                        [videoUUID, task.uuid, index, seed, task.format])
                }
                try Self.appendEvent(db, task.uuid, now, .queued, "accepted")
                outcomes.append(.created)
            }
            return outcomes
        }
    }

    // MARK: Reads

    /// A task with its results, or nil.
    public func find(_ uuid: String) async throws -> TaskRecord? {
        try await pool.read { db in try Self.load(db, uuid) }
    }

    /// The task's event log, oldest first.
    public func events(_ uuid: String) async throws -> [(at: Double, state: String, detail: String?)] {
        try await pool.read { db in
            try db.query("SELECT at, state, detail FROM task_events WHERE task_uuid = ? ORDER BY id", [uuid]).map {
                (at: $0["at"].double ?? 0, state: $0["state"].string ?? "", detail: $0["detail"].string)
            }
        }
    }

    /// A page of tasks, newest first, with optional filters; `cursor` is the last page's last
    /// (created_at, uuid) pair.
    public func list(
        keyName: String?, state: String?, model: String?, since: Double?, limit: Int, cursor: (Double, String)?
    ) async throws -> [TaskRecord] {
        try await pool.read { db in
            var sql = "SELECT * FROM tasks WHERE 1 = 1"
            var args: [any SQLiteBindable] = []
            if let keyName { sql += " AND api_key_name = ?"; args.append(keyName) }
            if let state { sql += " AND state = ?"; args.append(state) }
            if let model { sql += " AND model = ?"; args.append(model) }
            if let since { sql += " AND created_at >= ?"; args.append(since) }
            if let cursor { sql += " AND (created_at < ? OR (created_at = ? AND uuid < ?))"; args += [cursor.0, cursor.0, cursor.1] }
            sql += " ORDER BY created_at DESC, uuid DESC LIMIT ?"
            args.append(limit)
            return try db.query(sql, args).map { TaskRecord(row: $0) }
        }
    }

    static func load(_ db: Database, _ uuid: String) throws -> TaskRecord? {
        guard let row = try db.query("SELECT * FROM tasks WHERE uuid = ?", [uuid]).first else { return nil }
        var task = TaskRecord(row: row)
        task.results = try db.query("SELECT * FROM results WHERE task_uuid = ? ORDER BY idx", [uuid]).map { ResultRecord(row: $0) }
        return task
    }

    /// The result with this videoUUID and its task's uuid.
    public func findResult(_ videoUUID: String) async throws -> (ResultRecord, taskUUID: String)? {
        try await pool.read { db in
            guard let row = try db.query("SELECT * FROM results WHERE video_uuid = ?", [videoUUID]).first else { return nil }
            return (ResultRecord(row: row), row["task_uuid"].string ?? "")
        }
    }

    /// Every result connected to `videoUUID` through edits (SPEC §9): its ancestors up to the
    /// root and all descendants of that root, with each result's task, prompt and parent.
    public func lineage(of videoUUID: String) async throws -> [(videoUUID: String, taskUUID: String, parent: String?, prompt: String,
                                                               state: String, keyName: String)] {
        try await pool.read { db in
            // Up to the root through each task's parent video.
            var root = videoUUID
            var seen: Set<String> = [videoUUID]
            while let parent = try db.scalar(
                "SELECT t.parent_video_uuid FROM results r JOIN tasks t ON t.uuid = r.task_uuid WHERE r.video_uuid = ?", [root]).string,
                seen.insert(parent).inserted
            {
                root = parent
            }
            return try db.query(
                """
                WITH RECURSIVE tree(video_uuid) AS (
                    SELECT ?
                    UNION
                    SELECT r.video_uuid FROM results r JOIN tasks t ON t.uuid = r.task_uuid JOIN tree ON t.parent_video_uuid = tree.video_uuid
                )
                SELECT r.video_uuid, r.task_uuid, t.parent_video_uuid, t.request_json, r.state, t.api_key_name
                FROM tree JOIN results r ON r.video_uuid = tree.video_uuid JOIN tasks t ON t.uuid = r.task_uuid
                ORDER BY t.created_at, r.idx
                """, [root]
            ).map { row in
                let prompt = (try? JSONParser.parse(row["request_json"].string ?? "{}"))?["positivePrompt"]?.string ?? ""
                return (row["video_uuid"].string ?? "", row["task_uuid"].string ?? "", row["parent_video_uuid"].string, prompt,
                        row["state"].string ?? "", row["api_key_name"].string ?? "")
            }
        }
    }

    /// Task counts by state and model, and the queued tasks due now (for /metrics).
    public func gauges() async throws -> (byStateAndModel: [(state: String, model: String, count: Int)], queueDepth: Int) {
        let now = clock()
        return try await pool.read { db in
            let rows = try db.query("SELECT state, model, count(*) AS n FROM tasks GROUP BY state, model").map {
                (state: $0["state"].string ?? "", model: $0["model"].string ?? "", count: $0["n"].int ?? 0)
            }
            let depth = try db.scalar("SELECT count(*) FROM tasks WHERE state = 'queued' AND next_attempt_at <= ?", [now]).int ?? 0
            return (rows, depth)
        }
    }

    // MARK: Leases

    /// Claims the next task to work on: a task whose lease expired (a crashed or stalled worker)
    /// first, else the oldest queued task that is due. Queued tasks move to `dispatching`.
    public func claim(owner: String, leaseSeconds: Double) async throws -> TaskRecord? {
        let now = clock()
        return try await pool.write { db in
            let leased = TaskState.leased.map { "'\($0.rawValue)'" }.joined(separator: ",")
            var uuid = try db.scalar(
                "SELECT uuid FROM tasks WHERE state IN (\(leased)) AND lease_expires_at < ? LIMIT 1", [now]).string
            let resumed = uuid != nil
            // A parked running task whose next poll is due: not an attempt, and no event (a
            // poll is routine; the log would grow with every one).
            var parked = false
            if uuid == nil {
                uuid = try db.scalar(
                    "SELECT uuid FROM tasks WHERE state = 'running' AND lease_owner IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 1",
                    [now]).string
                parked = uuid != nil
            }
            if uuid == nil {
                uuid = try db.scalar(
                    "SELECT uuid FROM tasks WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 1",
                    [now]).string
            }
            guard let uuid else { return nil }
            try db.execute(
                """
                UPDATE tasks SET state = CASE WHEN state = 'queued' THEN 'dispatching' ELSE state END,
                    lease_owner = ?, lease_expires_at = ?, attempts = attempts + ?, updated_at = ?
                WHERE uuid = ?
                """, [owner, now + leaseSeconds, parked ? 0 : 1, now, uuid])
            let task = try Self.load(db, uuid)
            if !parked {
                try Self.appendEvent(db, uuid, now, task?.state ?? .dispatching, resumed ? "lease expired; resumed by \(owner)" : "claimed by \(owner)")
            }
            return task
        }
    }

    /// Extends a lease; false if the worker no longer holds it.
    public func renewLease(_ uuid: String, owner: String, leaseSeconds: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            try db.execute("UPDATE tasks SET lease_expires_at = ? WHERE uuid = ? AND lease_owner = ?", [now + leaseSeconds, uuid, owner])
            return db.changes == 1
        }
    }

    /// Makes every lease claimable now. Only safe when no other process can hold one, which the
    /// data-directory lock guarantees; called at start so work a killed process held resumes at
    /// once instead of after the lease times out.
    @discardableResult
    public func releaseAllLeases() throws -> Int {
        try pool.writeUnbatched { db in
            try db.execute("UPDATE tasks SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL")
            let tasks = db.changes
            // A delivery in flight at the crash is attempted again: at-least-once.
            try db.execute("UPDATE deliveries SET lease_expires_at = 0 WHERE state = 'sending'")
            return tasks + db.changes
        }
    }

    /// Parks a running task until its next poll: the lease goes, the task waits in the store
    /// (not in a worker's memory) and any worker takes it up when `at` comes.
    public func park(_ uuid: String, owner: String, until at: Double, pollInterval: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                """
                UPDATE tasks SET next_attempt_at = ?, poll_interval = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE uuid = ? AND lease_owner = ? AND state = 'running'
                """, [at, pollInterval, now, uuid, owner])
            return db.changes == 1
        }
    }

    /// Gives a lease back without a state change (graceful shutdown), so another worker can
    /// continue at once instead of waiting for it to expire.
    public func releaseLease(_ uuid: String, owner: String) async throws {
        try await pool.write { db in
            try db.execute("UPDATE tasks SET lease_owner = NULL, lease_expires_at = 0 WHERE uuid = ? AND lease_owner = ?", [uuid, owner])
        }
    }

    // MARK: Transitions

    /// Changes fields of this task's row the worker holds, and optionally its state; false if the lease was lost.
    public func update(
        _ uuid: String, owner: String, to state: TaskState? = nil, detail: String? = nil, fields: [String: any SQLiteBindable] = [:]
    ) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            var sets = ["updated_at = ?"]
            var args: [any SQLiteBindable] = [now]
            if let state {
                sets.append("state = ?")
                args.append(state.rawValue)
            }
            for (column, value) in fields.sorted(by: { $0.key < $1.key }) {
                precondition(column.allSatisfy { $0.isLetter || $0 == "_" }, "column names are code, never input")
                sets.append("\(column) = ?")
                args.append(value)
            }
            if let state, state.isTerminal { sets.append("lease_owner = NULL"); sets.append("lease_expires_at = NULL") }
            args += [uuid, owner]
            try db.execute("UPDATE tasks SET \(sets.joined(separator: ", ")) WHERE uuid = ? AND lease_owner = ?", args)
            guard db.changes == 1 else { return false }
            if let state {
                try Self.appendEvent(db, uuid, now, state, detail)
                if state.isTerminal { try Self.taskEnded(db, uuid) }
            }
            return true
        }
    }

    /// Puts a task back in the queue after a retryable fault, to be tried at `at`. `refund` gives
    /// the attempt back (waiting for provider capacity is not a failed attempt).
    public func requeue(_ uuid: String, owner: String, at: Double, reason: String, refund: Bool = false) async throws -> Bool {
        var fields: [String: any SQLiteBindable] = ["next_attempt_at": at, "lease_owner": SQLiteValue.null]
        if refund { fields["attempts"] = SQLiteValue.null }
        guard refund else { return try await update(uuid, owner: owner, to: .queued, detail: reason, fields: fields) }
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                "UPDATE tasks SET state = 'queued', updated_at = ?, next_attempt_at = ?, lease_owner = NULL, attempts = max(attempts - 1, 0) WHERE uuid = ? AND lease_owner = ?",
                [now, at, uuid, owner])
            return db.changes == 1
        }
    }

    /// Progress of the task's unfinished results.
    public func setProgress(_ uuid: String, progress: Int) async throws {
        try await pool.write { db in
            try db.execute("UPDATE results SET progress = ? WHERE task_uuid = ? AND state = 'pending' AND progress < ?", [progress, uuid, progress])
        }
    }

    /// A result's video is stored; false if the worker no longer holds its task's lease (a
    /// worker that took it over records it instead).
    public func markResultReady(_ videoUUID: String, owner: String, path: String, bytes: Int64, expiresAt: Double, cost: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                """
                UPDATE results SET state = 'ready', progress = 100, media_path = ?, media_bytes = ?, ready_at = ?, expires_at = ?, cost = ?
                WHERE video_uuid = ? AND task_uuid IN (SELECT uuid FROM tasks WHERE lease_owner = ?)
                """, [path, bytes, now, expiresAt, cost, videoUUID, owner])
            return db.changes == 1
        }
    }

    public func markResultsFailed(_ uuid: String, code: String, message: String) async throws {
        try await pool.write { db in
            try db.execute(
                "UPDATE results SET state = 'failed', error_code = ?, error_message = ? WHERE task_uuid = ? AND state = 'pending'",
                [code, message, uuid])
        }
    }

    /// Cancels a task that is not finished; returns the record as it was, or nil if unknown.
    public func cancel(_ uuid: String) async throws -> TaskRecord? {
        let now = clock()
        return try await pool.write { db in
            guard let task = try Self.load(db, uuid) else { return nil }
            guard !task.state.isTerminal else { return task }
            try db.execute(
                """
                UPDATE tasks SET state = 'cancelled', updated_at = ?, error_code = 'taskCancelled', error_message = 'cancelled by request',
                    lease_owner = NULL, lease_expires_at = NULL WHERE uuid = ?
                """, [now, uuid])
            try db.execute(
                "UPDATE results SET state = 'failed', error_code = 'taskCancelled', error_message = 'cancelled by request' WHERE task_uuid = ? AND state = 'pending'",
                [uuid])
            try Self.appendEvent(db, uuid, now, .cancelled, "cancelled by request")
            try Self.taskEnded(db, uuid)
            return task
        }
    }

    /// A task reached a terminal state: one fewer unfinished task for its key.
    static func taskEnded(_ db: Database, _ uuid: String) throws {
        try db.execute(
            "UPDATE key_inflight SET count = max(count - 1, 0) WHERE api_key_name = (SELECT api_key_name FROM tasks WHERE uuid = ?)", [uuid])
    }

    /// Unfinished tasks of a key.
    public func inFlight(keyName: String) async throws -> Int {
        try await pool.read { db in try db.scalar("SELECT count FROM key_inflight WHERE api_key_name = ?", [keyName]).int ?? 0 }
    }

    static func appendEvent(_ db: Database, _ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws {
        try db.execute("INSERT INTO task_events (task_uuid, at, state, detail) VALUES (?, ?, ?, ?)", [uuid, at, state.rawValue, detail])
    }

    // MARK: Deliveries

    /// The task's videos are stored: start delivering them, or finish at once if there is
    /// nothing to deliver. One transaction, so a crash leaves either the deliveries or nothing.
    public func finishFetching(_ uuid: String, owner: String, deliveries: [NewDelivery]) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            let next: TaskState = deliveries.isEmpty ? .succeeded : .delivering
            try db.execute(
                "UPDATE tasks SET state = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE uuid = ? AND lease_owner = ?",
                [next.rawValue, now, uuid, owner])
            guard db.changes == 1 else { return false }
            try Self.insertDeliveries(db, uuid, deliveries, now)
            try Self.appendEvent(db, uuid, now, next, deliveries.isEmpty ? "results stored" : "results stored; \(deliveries.count) deliveries")
            if next.isTerminal { try Self.taskEnded(db, uuid) }
            return true
        }
    }

    /// Fails the task and its pending results, and queues its `errors` webhook, in one transaction.
    public func failTask(_ uuid: String, owner: String, code: String, message: String, webhook: NewDelivery?) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                """
                UPDATE tasks SET state = 'failed', updated_at = ?, error_code = ?, error_message = ?, lease_owner = NULL,
                    lease_expires_at = NULL WHERE uuid = ? AND lease_owner = ?
                """, [now, code, message, uuid, owner])
            guard db.changes == 1 else { return false }
            try db.execute(
                "UPDATE results SET state = 'failed', error_code = ?, error_message = ? WHERE task_uuid = ? AND state = 'pending'",
                [code, message, uuid])
            try Self.insertDeliveries(db, uuid, webhook.map { [$0] } ?? [], now)
            try Self.appendEvent(db, uuid, now, .failed, "\(code): \(message)")
            try Self.taskEnded(db, uuid)
            return true
        }
    }

    static func insertDeliveries(_ db: Database, _ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws {
        for d in deliveries {
            try db.execute(
                """
                INSERT INTO deliveries (task_uuid, video_uuid, kind, url, message_id, state, next_attempt_at, target_host)
                VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING
                """, [uuid, d.videoUUID, d.kind.rawValue, d.url, d.messageID, now, URLGuardHost.host(of: d.url).lowercased()])
        }
    }

    /// Claims due deliveries, as many as `quota` has room for, in due order, skipping those
    /// whose key or target host is at its limit. A webhook is not due while its result's upload
    /// is unfinished (SPEC §6: the object is there before anyone is told).
    public func claimDeliveries(owner: String, leaseSeconds: Double, quota: DeliveryQuota) async throws -> [DeliveryRecord] {
        let now = clock()
        guard quota.free > 0 else { return [] }
        let keys = quota.saturatedKeys, hosts = quota.saturatedHosts
        let keyList = Array(repeating: "?", count: keys.count).joined(separator: ",")
        let hostList = Array(repeating: "?", count: hosts.count).joined(separator: ",")
        return try await pool.write { db in
            var quota = quota
            let rows = try db.query(
                """
                SELECT d.*, t.api_key_name FROM deliveries d JOIN tasks t ON t.uuid = d.task_uuid
                WHERE ((d.state = 'pending' AND d.next_attempt_at <= ?) OR (d.state = 'sending' AND d.lease_expires_at < ?))
                  AND NOT (d.kind = 'webhook' AND EXISTS (
                      SELECT 1 FROM deliveries u WHERE u.task_uuid = d.task_uuid AND u.video_uuid IS d.video_uuid
                        AND u.kind = 'upload' AND u.state IN ('pending', 'sending')))
                  AND t.api_key_name NOT IN (\(keyList)) AND d.target_host NOT IN (\(hostList))
                ORDER BY d.next_attempt_at LIMIT ?
                """, [now, now] + keys + hosts + [max(quota.free * 8, 64)])
            var claimed: [DeliveryRecord] = []
            for row in rows where quota.free > 0 {
                var record = DeliveryRecord(row: row)
                guard quota.take(key: record.apiKeyName, host: record.targetHost) else { continue }
                try db.execute(
                    "UPDATE deliveries SET state = 'sending', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1 WHERE id = ?",
                    [owner, now + leaseSeconds, record.id])
                record.state = .sending
                record.attempts += 1
                claimed.append(record)
            }
            return claimed
        }
    }

    /// Extends the lease of a delivery being attempted; false if it is no longer this claim's.
    /// A claim is told apart from a later one by its attempt number, which each claim raises.
    public func renewDeliveryLease(_ delivery: DeliveryRecord, owner: String, leaseSeconds: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                "UPDATE deliveries SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = 'sending'",
                [now + leaseSeconds, delivery.id, owner, delivery.attempts])
            return db.changes == 1
        }
    }

    /// Records an attempt and its outcome, if the claim it was made under still holds (false
    /// otherwise: the delivery was claimed again meanwhile); when the task's last delivery
    /// settles, the task (still `delivering`) becomes `succeeded`.
    @discardableResult
    public func recordAttempt(_ delivery: DeliveryRecord, owner: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            let claim: [any SQLiteBindable] = [delivery.id, owner, delivery.attempts]
            guard try db.scalar(
                "SELECT count(*) FROM deliveries WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = 'sending'", claim).int == 1
            else { return false }
            try db.execute(
                "INSERT INTO delivery_attempts (delivery_id, at, target_host, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)",
                [delivery.id, attempt.at, attempt.targetHost, attempt.statusCode, attempt.latencyMilliseconds, attempt.error])
            switch outcome {
            case .delivered:
                try db.execute("UPDATE deliveries SET state = 'delivered', lease_owner = NULL, last_error = NULL WHERE id = ?", [delivery.id])
            case .retry(let at):
                try db.execute("UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_owner = NULL, last_error = ? WHERE id = ?",
                               [at, attempt.error, delivery.id])
            case .failed(let reason):
                try db.execute("UPDATE deliveries SET state = 'failed', lease_owner = NULL, last_error = ? WHERE id = ?", [reason, delivery.id])
            }
            let open = try db.scalar(
                "SELECT count(*) FROM deliveries WHERE task_uuid = ? AND state IN ('pending', 'sending')", [delivery.taskUUID]).int ?? 0
            if open == 0 {
                try db.execute("UPDATE tasks SET state = 'succeeded', updated_at = ? WHERE uuid = ? AND state = 'delivering'", [now, delivery.taskUUID])
                if db.changes == 1 {
                    try Self.appendEvent(db, delivery.taskUUID, now, .succeeded, "deliveries settled")
                    try Self.taskEnded(db, delivery.taskUUID)
                }
            }
            return true
        }
    }

    /// Runs a task's deliveries again from the start (ops `redeliver`); returns how many.
    public func redeliver(_ uuid: String) async throws -> Int {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL WHERE task_uuid = ? AND state != 'sending'",
                [now, uuid])
            let count = db.changes
            if count > 0 { try Self.appendEvent(db, uuid, now, try Self.load(db, uuid)?.state ?? .succeeded, "redelivery requested") }
            return count
        }
    }

    /// A task's deliveries with their attempts, for the ops view.
    public func deliveries(_ uuid: String) async throws -> [(DeliveryRecord, [DeliveryAttempt])] {
        try await pool.read { db in
            try db.query("SELECT * FROM deliveries WHERE task_uuid = ? ORDER BY id", [uuid]).map { row in
                let record = DeliveryRecord(row: row)
                let attempts = try db.query("SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY id", [record.id]).map {
                    DeliveryAttempt(at: $0["at"].double ?? 0, targetHost: $0["target_host"].string ?? "", statusCode: $0["status_code"].int,
                                    latencyMilliseconds: $0["latency_ms"].double ?? 0, error: $0["error"].string)
                }
                return (record, attempts)
            }
        }
    }

    // MARK: Media bookkeeping

    /// Stored media whose URL expired before `now`, oldest expiry first.
    public func expiredMedia(before now: Double, limit: Int) async throws -> [(videoUUID: String, path: String, bytes: Int64)] {
        try await pool.read { db in
            try db.query(
                "SELECT video_uuid, media_path, media_bytes FROM results WHERE media_path IS NOT NULL AND expires_at < ? ORDER BY expires_at LIMIT ?",
                [now, limit]
            ).map { ($0["video_uuid"].string ?? "", $0["media_path"].string ?? "", $0["media_bytes"].int64 ?? 0) }
        }
    }

    /// The file of a result was deleted: forget its path.
    public func mediaRemoved(_ videoUUID: String) async throws {
        try await pool.write { db in try db.execute("UPDATE results SET media_path = NULL WHERE video_uuid = ?", [videoUUID]) }
    }

    /// Bytes of stored media: results and uploaded images.
    public func mediaBytesInUse() throws -> Int64 {
        try pool.readBlocking { db in
            let results = try db.scalar("SELECT coalesce(sum(media_bytes), 0) FROM results WHERE media_path IS NOT NULL").int64 ?? 0
            let images = try db.scalar("SELECT coalesce(sum(bytes), 0) FROM images").int64 ?? 0
            return results + images
        }
    }

    // MARK: Instance bookkeeping

    /// Records that an instance started (ops see restarts in the database).
    public func recordStart(version: String) throws {
        try pool.writeUnbatched { db in
            try db.execute("INSERT INTO instance_starts (started_at, version) VALUES (?, ?)", [clock(), version])
        }
    }

    /// A write that proves the database takes writes (readiness).
    public func checkWritable() async throws {
        let now = clock()
        try await pool.write { db in try db.execute("UPDATE health SET checked_at = ? WHERE id = 1", [now]) }
    }

    // MARK: Settings and images

    /// A setting, created with `make()` the first time it is asked for (e.g. the media signing key).
    public func setting(_ key: String, orCreate make: @escaping @Sendable () -> String) throws -> String {
        try pool.writeUnbatched { db in
            if let value = try db.scalar("SELECT value FROM settings WHERE key = ?", [key]).string { return value }
            let value = make()
            try db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [key, value])
            return value
        }
    }

    public func storeImage(uuid: String, keyName: String, path: String, mime: String, bytes: Int, expiresAt: Double) async throws {
        let now = clock()
        try await pool.write { db in
            try db.execute("INSERT INTO images (uuid, api_key_name, path, mime, bytes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [uuid, keyName, path, mime, bytes, now, expiresAt])
        }
    }

    /// An uploaded image that has not expired.
    public func image(_ uuid: String) async throws -> (path: String, mime: String, keyName: String)? {
        let now = clock()
        return try await pool.read { db in
            try db.query("SELECT path, mime, api_key_name FROM images WHERE uuid = ? AND expires_at > ?", [uuid, now]).first.map {
                ($0["path"].string ?? "", $0["mime"].string ?? "", $0["api_key_name"].string ?? "")
            }
        }
    }

    /// Uploaded images past their lifetime, oldest first.
    public func expiredImages(before now: Double, limit: Int) async throws -> [(uuid: String, path: String, bytes: Int64)] {
        try await pool.read { db in
            try db.query("SELECT uuid, path, bytes FROM images WHERE expires_at <= ? ORDER BY expires_at LIMIT ?", [now, limit]).map {
                ($0["uuid"].string ?? "", $0["path"].string ?? "", $0["bytes"].int64 ?? 0)
            }
        }
    }

    /// An image's file was deleted: forget it.
    public func imageRemoved(_ uuid: String) async throws {
        try await pool.write { db in try db.execute("DELETE FROM images WHERE uuid = ?", [uuid]) }
    }
}
