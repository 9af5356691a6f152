import Domain
import SQLite
import Store

/// Delivery states and kinds are bound as values, like task states: the SQL spells none of them.
private let pending = DeliveryRecord.State.pending.rawValue, sending = DeliveryRecord.State.sending.rawValue
private let delivered = DeliveryRecord.State.delivered.rawValue, failed = DeliveryRecord.State.failed.rawValue
private let webhook = DeliveryKind.webhook.rawValue, upload = DeliveryKind.upload.rawValue

extension SQLiteTaskStore {
    static func insertDeliveries(_ db: Database, _ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws {
        for d in deliveries {
            try db.execute(
                """
                INSERT INTO deliveries (task_uuid, video_uuid, kind, url, message_id, state, next_attempt_at, target_host)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, [uuid, d.videoUUID, d.kind.rawValue, d.url, d.messageID, pending, now,
                      URLHost.of(d.url).lowercased()])
        }
    }

    public func claimDeliveries(owner: String, leaseSeconds: Double, quota: DeliveryQuota) async throws -> [DeliveryRecord] {
        let now = clock()
        guard quota.free > 0 else { return [] }
        let keys = quota.saturatedKeys, hosts = quota.saturatedHosts
        let outcome: Result<[DeliveryRecord], StoreError> = try await pool.write(.deferred) { db in
            let rows = try db.query(
                """
                SELECT d.*, t.api_key_name FROM deliveries d JOIN tasks t ON t.uuid = d.task_uuid
                WHERE ((d.state = ? AND d.next_attempt_at <= ?) OR (d.state = ? AND d.lease_expires_at < ?))
                  AND NOT (d.kind = ? AND EXISTS (
                      SELECT 1 FROM deliveries u WHERE u.task_uuid = d.task_uuid AND u.video_uuid IS d.video_uuid
                        AND u.kind = ? AND u.state IN (?, ?)))
                  AND t.api_key_name NOT IN (\(Self.placeholders(keys.count))) AND d.target_host NOT IN (\(Self.placeholders(hosts.count)))
                ORDER BY d.next_attempt_at LIMIT ?
                """, [pending, now, sending, now, webhook, upload, pending, sending] + keys + hosts + [max(quota.free * 8, 64)])
            return try ClaimSelection.deliveries(
                rows, quota: quota, id: { $0["id"].int64 ?? 0 }, decode: { try DeliveryRecord(row: $0) },
                setAside: { id, reason in
                    try db.execute("UPDATE deliveries SET state = ?, lease_owner = ?, last_error = ? WHERE id = ?", [failed, Self.quarantined, reason, id])
                },
                take: { record in
                    try db.execute(
                        "UPDATE deliveries SET state = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1 WHERE id = ?",
                        [sending, owner, now + leaseSeconds, record.id])
                })
        }
        return try outcome.get()
    }

    public func renewDeliveryLease(_ delivery: DeliveryRecord, owner: String, leaseSeconds: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write(.deferred) { db in
            try db.execute(
                "UPDATE deliveries SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = ?",
                [now + leaseSeconds, delivery.id, owner, delivery.attempts, sending])
            return db.changes == 1
        }
    }

    @discardableResult
    public func recordAttempt(_ delivery: DeliveryRecord, owner: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws -> Bool {
        let now = clock()
        let settled = TaskLifecycle.predecessors(of: .deliveriesSettled)
        return try await pool.write(.deferred) { db in
            let claim: [any SQLiteBindable] = [delivery.id, owner, delivery.attempts, sending]
            guard try db.scalar(
                "SELECT count(*) FROM deliveries WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = ?", claim).int == 1
            else { return false }
            try db.execute(
                "INSERT INTO delivery_attempts (delivery_id, at, target_host, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)",
                [delivery.id, attempt.at, attempt.targetHost, attempt.statusCode, attempt.latencyMilliseconds, attempt.error])
            switch outcome {
            case .delivered:
                try db.execute("UPDATE deliveries SET state = ?, lease_owner = NULL, last_error = NULL WHERE id = ?", [delivered, delivery.id])
            case .retry(let at):
                try db.execute("UPDATE deliveries SET state = ?, next_attempt_at = ?, lease_owner = NULL, last_error = ? WHERE id = ?",
                               [pending, at, attempt.error, delivery.id])
            case .failed(let reason):
                try db.execute("UPDATE deliveries SET state = ?, lease_owner = NULL, last_error = ? WHERE id = ?", [failed, reason, delivery.id])
            }
            let open = try db.scalar(
                "SELECT count(*) FROM deliveries WHERE task_uuid = ? AND state IN (?, ?)", [delivery.taskUUID, pending, sending]).int ?? 0
            if open == 0, let step = settled.first.flatMap({ TaskLifecycle.step($0, .deliveriesSettled) }) {
                try db.execute(
                    "UPDATE tasks SET state = ?, updated_at = ? WHERE uuid = ? AND state IN (\(Self.placeholders(settled.count)))",
                    [step.next.rawValue, now, delivery.taskUUID] + Self.bind(settled))
                if db.changes == 1 {
                    try Self.appendEvent(db, delivery.taskUUID, now, step.next, step.detail)
                    try Self.taskEnded(db, delivery.taskUUID)
                }
            }
            return true
        }
    }

    public func redeliver(_ uuid: String) async throws -> Int {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                "UPDATE deliveries SET state = ?, attempts = 0, next_attempt_at = ?, lease_owner = NULL WHERE task_uuid = ? AND state != ?",
                [pending, now, uuid, sending])
            let count = db.changes
            if count > 0, let task = try Self.load(db, uuid) { try Self.appendEvent(db, uuid, now, task.state, "redelivery requested") }
            return count
        }
    }
}
