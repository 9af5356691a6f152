import Domain
import SQLite
import Store

extension SQLiteTaskStore {
    static func insertDeliveries(_ db: Database, _ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws {
        for d in deliveries {
            try db.execute(
                """
                INSERT INTO deliveries (task_uuid, video_uuid, kind, url, message_id, state, next_attempt_at, target_host)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, [uuid, d.videoUUID, d.kind.rawValue, d.url, d.messageID, DeliveryRecord.State.pending.rawValue, now,
                      URLHost.of(d.url).lowercased()])
        }
    }

    public func claimDeliveries(owner: String, leaseSeconds: Double, quota: DeliveryQuota) async throws -> [DeliveryRecord] {
        let now = clock()
        guard quota.free > 0 else { return [] }
        let keys = quota.saturatedKeys, hosts = quota.saturatedHosts
        return try await pool.write { db in
            var quota = quota
            let rows = try db.query(
                """
                SELECT d.*, t.api_key_name FROM deliveries d JOIN tasks t ON t.uuid = d.task_uuid
                WHERE ((d.state = 'pending' AND d.next_attempt_at <= ?) OR (d.state = 'sending' AND d.lease_expires_at < ?))
                  AND NOT (d.kind = 'webhook' AND EXISTS (
                      SELECT 1 FROM deliveries u WHERE u.task_uuid = d.task_uuid AND u.video_uuid IS d.video_uuid
                        AND u.kind = 'upload' AND u.state IN ('pending', 'sending')))
                  AND t.api_key_name NOT IN (\(Self.placeholders(keys.count))) AND d.target_host NOT IN (\(Self.placeholders(hosts.count)))
                ORDER BY d.next_attempt_at LIMIT ?
                """, [now, now] + keys + hosts + [max(quota.free * 8, 64)])
            var claimed: [DeliveryRecord] = []
            for row in rows where quota.free > 0 {
                var record = try DeliveryRecord(row: row)
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

    public func renewDeliveryLease(_ delivery: DeliveryRecord, owner: String, leaseSeconds: Double) async throws -> Bool {
        let now = clock()
        return try await pool.write { db in
            try db.execute(
                "UPDATE deliveries SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = 'sending'",
                [now + leaseSeconds, delivery.id, owner, delivery.attempts])
            return db.changes == 1
        }
    }

    @discardableResult
    public func recordAttempt(_ delivery: DeliveryRecord, owner: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws -> Bool {
        let now = clock()
        let settled = TaskLifecycle.predecessors(of: .deliveriesSettled)
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
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL WHERE task_uuid = ? AND state != 'sending'",
                [now, uuid])
            let count = db.changes
            if count > 0, let task = try Self.load(db, uuid) { try Self.appendEvent(db, uuid, now, task.state, "redelivery requested") }
            return count
        }
    }
}
