import Domain
import Postgres
import Store

/// Cancels, deliveries, media, images, ops reads and instance bookkeeping, as the SQLite store
/// does them (see there for the why of each); what differs is said where it does.
extension PostgresTaskStore {
    static let quarantined = "quarantined"

    public func cancel(_ uuid: String) async throws -> TaskRecord? {
        let now = self.now
        let from = Self.array(TaskLifecycle.predecessors(of: .cancelled))
        let found = try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> (PostgresRow, [PostgresRow])? in
            let tasks = try db.execute("SELECT * FROM tasks WHERE uuid = $1 FOR UPDATE", [uuid])
            guard tasks.count > 0 else { return nil }
            let task = tasks.row(0)
            let results = try db.execute(prepared: "find_results", "SELECT * FROM results WHERE task_uuid = $1 ORDER BY idx", [uuid]).allRows
            guard let state = TaskState(rawValue: try task.string("state") ?? ""), let step = TaskLifecycle.step(state, .cancelled) else {
                return (task, results)
            }
            let updated = try db.execute(
                """
                UPDATE tasks SET state = $1, updated_at = $2, error_code = $3, error_message = $4, lease_owner = NULL, lease_expires_at = NULL
                WHERE uuid = $5 AND state = ANY($6::text[])
                """, [step.next.rawValue, String(now), APIErrorCode.taskCancelled.name, "cancelled by request", uuid, from])
            if updated.affectedRows == 1 {
                try Self.failPendingResults(db, uuid, code: APIErrorCode.taskCancelled.name, message: "cancelled by request")
                try Self.appendEvent(db, uuid, now, step.next, step.detail)
                // A task set aside already gave its key's slot back.
                if try task.string("lease_owner") != Self.quarantined { try Self.taskEnded(db, uuid) }
            }
            return (task, results)
        }
        guard let (task, results) = found else { return nil }
        var record = try TaskRecord(columns: PostgresColumns(row: task))
        record.results = try results.map { try ResultRecord(columns: PostgresColumns(row: $0)) }
        return record
    }

    // MARK: Deliveries

    public func claimDeliveries(owner: String, leaseSeconds: Double, quota original: DeliveryQuota) async throws -> [DeliveryRecord] {
        let now = self.now
        guard original.free > 0 else { return [] }
        let keys = try PostgresArray.literal(Array(original.saturatedKeys))
        let hosts = try PostgresArray.literal(Array(original.saturatedHosts))
        let pending = DeliveryRecord.State.pending.rawValue, sending = DeliveryRecord.State.sending.rawValue
        let outcome = try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Result<[DeliveryRecord], StoreError> in
            let rows = try db.execute(
                prepared: "claim_deliveries",
                """
                SELECT d.*, t.api_key_name FROM deliveries d JOIN tasks t ON t.uuid = d.task_uuid
                WHERE ((d.state = $1 AND d.next_attempt_at <= $2) OR (d.state = $3 AND d.lease_expires_at < $2))
                  AND NOT (d.kind = $4 AND EXISTS (
                      SELECT 1 FROM deliveries u WHERE u.task_uuid = d.task_uuid AND u.video_uuid IS NOT DISTINCT FROM d.video_uuid
                        AND u.kind = $5 AND u.state IN ($1, $3)))
                  AND NOT (t.api_key_name = ANY($6::text[])) AND NOT (d.target_host = ANY($7::text[]))
                ORDER BY d.next_attempt_at LIMIT $8
                FOR UPDATE OF d SKIP LOCKED
                """, [pending, String(now), sending, DeliveryKind.webhook.rawValue, DeliveryKind.upload.rawValue, keys, hosts,
                      String(max(original.free * 8, 64))]).allRows
            do {
                return try ClaimSelection.deliveries(
                    rows, quota: original, id: { (try? $0.int("id")).flatMap { $0 } ?? 0 }, decode: { try Self.delivery($0) },
                    setAside: { id, reason in
                        try db.execute("UPDATE deliveries SET state = $1, lease_owner = $2, last_error = $3 WHERE id = $4",
                                       [DeliveryRecord.State.failed.rawValue, Self.quarantined, reason, String(id)])
                    },
                    take: { record in
                        try db.execute(prepared: "take_delivery",
                                       "UPDATE deliveries SET state = $1, lease_owner = $2, lease_expires_at = $3, attempts = attempts + 1 WHERE id = $4",
                                       [sending, owner, String(now + leaseSeconds), String(record.id)])
                    })
            } catch let error as PostgresError {
                throw error
            } catch {
                throw PostgresError(.statement, message: "\(error)")
            }
        }
        return try outcome.get()
    }

    public func renewDeliveryLease(_ delivery: DeliveryRecord, owner: String, leaseSeconds: Double) async throws -> Bool {
        let until = now + leaseSeconds
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute(
                prepared: "renew_delivery",
                "UPDATE deliveries SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND attempts = $4 AND state = $5",
                [String(until), String(delivery.id), owner, String(delivery.attempts), DeliveryRecord.State.sending.rawValue]
            ).affectedRows == 1
        }
    }

    @discardableResult
    public func recordAttempt(_ delivery: DeliveryRecord, owner: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws -> Bool {
        let now = self.now
        let settled = TaskLifecycle.predecessors(of: .deliveriesSettled)
        let pending = DeliveryRecord.State.pending.rawValue, sending = DeliveryRecord.State.sending.rawValue
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Bool in
            let held = try db.execute(
                "SELECT id FROM deliveries WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = $4 FOR UPDATE",
                [String(delivery.id), owner, String(delivery.attempts), sending])
            guard held.count == 1 else { return false }
            try db.execute(
                prepared: "insert_attempt",
                "INSERT INTO delivery_attempts (delivery_id, at, target_host, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)",
                [String(delivery.id), String(attempt.at), attempt.targetHost, attempt.statusCode.map(String.init), String(attempt.latencyMilliseconds),
                 attempt.error])
            switch outcome {
            case .delivered:
                try db.execute("UPDATE deliveries SET state = $1, lease_owner = NULL, last_error = NULL WHERE id = $2",
                               [DeliveryRecord.State.delivered.rawValue, String(delivery.id)])
            case .retry(let at):
                try db.execute("UPDATE deliveries SET state = $1, next_attempt_at = $2, lease_owner = NULL, last_error = $3 WHERE id = $4",
                               [pending, String(at), attempt.error, String(delivery.id)])
            case .failed(let reason):
                try db.execute("UPDATE deliveries SET state = $1, lease_owner = NULL, last_error = $2 WHERE id = $3",
                               [DeliveryRecord.State.failed.rawValue, reason, String(delivery.id)])
            }
            // The task's row is locked before its deliveries are counted: two instances settling
            // its last two deliveries at once cannot both miss (or both make) the transition.
            _ = try db.execute("SELECT uuid FROM tasks WHERE uuid = $1 FOR UPDATE", [delivery.taskUUID])
            let open = try db.execute("SELECT count(*) AS c FROM deliveries WHERE task_uuid = $1 AND state IN ($2, $3)",
                                      [delivery.taskUUID, pending, sending]).row(0).int("c") ?? 0
            if open == 0, let step = settled.first.flatMap({ TaskLifecycle.step($0, .deliveriesSettled) }) {
                let moved = try db.execute("UPDATE tasks SET state = $1, updated_at = $2 WHERE uuid = $3 AND state = ANY($4::text[])",
                                           [step.next.rawValue, String(now), delivery.taskUUID, Self.array(settled)])
                if moved.affectedRows == 1 {
                    try Self.appendEvent(db, delivery.taskUUID, now, step.next, step.detail)
                    try Self.taskEnded(db, delivery.taskUUID)
                }
            }
            return true
        }
    }

    public func redeliver(_ uuid: String) async throws -> Int {
        let now = self.now
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Int in
            let count = try db.execute(
                "UPDATE deliveries SET state = $1, attempts = 0, next_attempt_at = $2, lease_owner = NULL WHERE task_uuid = $3 AND state != $4",
                [DeliveryRecord.State.pending.rawValue, String(now), uuid, DeliveryRecord.State.sending.rawValue]).affectedRows
            if count > 0 { try Self.notify(db, .deliveries) }
            if count > 0, let state = try db.execute("SELECT state FROM tasks WHERE uuid = $1", [uuid]).rows.first?[0], let taskState = TaskState(rawValue: state) {
                try Self.appendEvent(db, uuid, now, taskState, "redelivery requested")
            }
            return count
        }
    }

    static func delivery(_ row: PostgresRow) throws -> DeliveryRecord {
        let columns = PostgresColumns(row: row)
        return DeliveryRecord(
            id: try row.int("id") ?? 0, taskUUID: try columns.text("task_uuid") ?? "", videoUUID: try columns.text("video_uuid"),
            kind: try columns.decode("kind", table: "deliveries"), url: try columns.text("url") ?? "", messageID: try columns.text("message_id") ?? "",
            state: try columns.decode("state", table: "deliveries"), attempts: Int(try row.int("attempts") ?? 0),
            nextAttemptAt: try row.double("next_attempt_at") ?? 0, lastError: try row.string("last_error"),
            apiKeyName: (try? row.string("api_key_name")) ?? "", targetHost: try row.string("target_host") ?? "")
    }

    // MARK: Media

    public func findResult(_ videoUUID: String) async throws -> (ResultRecord, taskUUID: String)? {
        let row = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> PostgresRow? in
            try db.execute(prepared: "find_result", "SELECT * FROM results WHERE video_uuid = $1", [videoUUID]).allRows.first
        }
        guard let row else { return nil }
        return (try ResultRecord(columns: PostgresColumns(row: row)), try row.string("task_uuid") ?? "")
    }

    public func expiredMedia(before now: Double, limit: Int, skipping: Int) async throws -> [StoredFile] {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> [StoredFile] in
            var files: [StoredFile] = []
            for row in try db.execute(
                "SELECT video_uuid, media_path, media_bytes FROM results WHERE media_path IS NOT NULL AND expires_at < $1 ORDER BY expires_at, video_uuid LIMIT $2 OFFSET $3",
                [String(now), String(limit), String(skipping)]).allRows
            {
                files.append(StoredFile(id: try row.string("video_uuid") ?? "", path: try row.string("media_path") ?? "", bytes: try row.int("media_bytes") ?? 0))
            }
            return files
        }
    }

    @discardableResult
    public func mediaRemoved(_ videoUUID: String) async throws -> Bool {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute("UPDATE results SET media_path = NULL WHERE video_uuid = $1 AND media_path IS NOT NULL", [videoUUID]).affectedRows == 1
        }
    }

    /// Synchronous (start-up and the media budget): on a connection of its own.
    public func mediaBytesInUse() throws -> Int64 {
        let db = try PostgresConnection(pool.url)
        // Local files only: objects in a bucket (`s3:` paths) are not on this disk.
        let results = try db.execute("SELECT coalesce(sum(media_bytes), 0) AS b FROM results WHERE media_path IS NOT NULL AND media_path NOT LIKE 's3:%'")
            .row(0).int("b") ?? 0
        let images = try db.execute("SELECT coalesce(sum(bytes), 0) AS b FROM images WHERE path NOT LIKE 's3:%'").row(0).int("b") ?? 0
        return results + images
    }

    // MARK: Images

    public func storeImage(_ image: UploadedImage) async throws {
        let now = self.now
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            try db.execute("INSERT INTO images (uuid, api_key_name, path, mime, bytes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                           [image.uuid, image.keyName, image.path, image.mime, String(image.bytes), String(now), String(image.expiresAt)])
        }
    }

    public func image(_ uuid: String) async throws -> UploadedImage? {
        let now = self.now
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> UploadedImage? in
            guard let row = try db.execute("SELECT * FROM images WHERE uuid = $1 AND expires_at > $2", [uuid, String(now)]).allRows.first else { return nil }
            return UploadedImage(uuid: uuid, keyName: try row.string("api_key_name") ?? "", path: try row.string("path") ?? "",
                                 mime: try row.string("mime") ?? "", bytes: Int(try row.int("bytes") ?? 0), expiresAt: try row.double("expires_at") ?? 0)
        }
    }

    public func expiredImages(before now: Double, limit: Int, skipping: Int) async throws -> [StoredFile] {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> [StoredFile] in
            var files: [StoredFile] = []
            for row in try db.execute("SELECT uuid, path, bytes FROM images WHERE expires_at <= $1 ORDER BY expires_at, uuid LIMIT $2 OFFSET $3",
                                      [String(now), String(limit), String(skipping)]).allRows {
                files.append(StoredFile(id: try row.string("uuid") ?? "", path: try row.string("path") ?? "", bytes: try row.int("bytes") ?? 0))
            }
            return files
        }
    }

    @discardableResult
    public func imageRemoved(_ uuid: String) async throws -> Bool {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute("DELETE FROM images WHERE uuid = $1", [uuid]).affectedRows == 1
        }
    }

    // MARK: Instance

    public func recordStart(version: String) throws {
        try PostgresConnection(pool.url).execute("INSERT INTO instance_starts (started_at, version) VALUES ($1, $2)", [String(now), version])
    }

    public func checkWritable() async throws {
        let now = self.now
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            _ = try db.execute("UPDATE health SET checked_at = $1 WHERE id = 1", [String(now)])
        }
    }

    /// Created once across every instance: the first insert wins, the others read it.
    public func setting(_ key: String, orCreate make: @escaping @Sendable () -> String) throws -> String {
        let db = try PostgresConnection(pool.url)
        try db.execute("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [key, make()])
        return try db.execute("SELECT value FROM settings WHERE key = $1", [key]).row(0).string("value") ?? ""
    }

    /// With several instances leases simply expire (another's are live): this is for a single
    /// instance that knows it is alone, as the SQLite store's start.
    @discardableResult
    public func releaseAllLeases() throws -> Int {
        let db = try PostgresConnection(pool.url)
        let tasks = try db.execute("UPDATE tasks SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL AND lease_owner != $1", [Self.quarantined])
        let deliveries = try db.execute("UPDATE deliveries SET lease_expires_at = 0 WHERE state = $1", [DeliveryRecord.State.sending.rawValue])
        return tasks.affectedRows + deliveries.affectedRows
    }
}
