import Domain
import SQLite
import Store

extension SQLiteTaskStore {
    public func events(_ uuid: String) async throws -> [TaskLogEntry] {
        try pool.readNow { db in
            guard let created = try db.scalar("SELECT created_at FROM tasks WHERE uuid = ?", [uuid]).double else { return [] }
            let accepted = TaskLogEntry(at: created, state: .queued, detail: "accepted")
            return try [accepted] + db.query("SELECT at, state, detail FROM task_events WHERE task_uuid = ? ORDER BY id", [uuid]).map {
                TaskLogEntry(at: $0["at"].double ?? 0, state: try decode($0, "state", table: "task_events"), detail: $0["detail"].string)
            }
        }
    }

    public func list(_ filter: TaskListFilter, limit: Int, cursor: (Double, String)?) async throws -> [TaskRecord] {
        try await pool.read { db in
            var sql = "SELECT * FROM tasks WHERE 1 = 1"
            var args: [any SQLiteBindable] = []
            if let keyName = filter.keyName { sql += " AND api_key_name = ?"; args.append(keyName) }
            if let state = filter.state { sql += " AND state = ?"; args.append(state.rawValue) }
            if let model = filter.model { sql += " AND model = ?"; args.append(model) }
            if let since = filter.since { sql += " AND created_at >= ?"; args.append(since) }
            if let cursor { sql += " AND (created_at < ? OR (created_at = ? AND uuid < ?))"; args += [cursor.0, cursor.0, cursor.1] }
            sql += " ORDER BY created_at DESC, uuid DESC LIMIT ?"
            args.append(limit)
            return try db.query(sql, args).map { try TaskRecord(row: $0) }
        }
    }

    public func lineage(of videoUUID: String) async throws -> [LineageNode] {
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
                return LineageNode(videoUUID: row["video_uuid"].string ?? "", taskUUID: row["task_uuid"].string ?? "",
                                   parent: row["parent_video_uuid"].string, prompt: prompt,
                                   state: try decode(row, "state", table: "results"), keyName: row["api_key_name"].string ?? "")
            }
        }
    }

    public func deliveries(_ uuid: String) async throws -> [(DeliveryRecord, [DeliveryAttempt])] {
        try await pool.read { db in
            try db.query("SELECT * FROM deliveries WHERE task_uuid = ? ORDER BY id", [uuid]).map { row in
                let record = try DeliveryRecord(row: row)
                let attempts = try db.query("SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY id", [record.id]).map {
                    DeliveryAttempt(at: $0["at"].double ?? 0, targetHost: $0["target_host"].string ?? "", statusCode: $0["status_code"].int,
                                    latencyMilliseconds: $0["latency_ms"].double ?? 0, error: $0["error"].string)
                }
                return (record, attempts)
            }
        }
    }

    public func gauges() async throws -> TaskGauges {
        let now = clock()
        return try await pool.read { db in
            let rows = try db.query("SELECT state, model, count(*) AS n FROM tasks GROUP BY state, model").map {
                TaskGauges.Count(state: try decode($0, "state", table: "tasks"), model: $0["model"].string ?? "", count: $0["n"].int ?? 0)
            }
            let depth = try db.scalar("SELECT count(*) FROM tasks WHERE state = ? AND next_attempt_at <= ?", [TaskState.queued.rawValue, now]).int ?? 0
            return TaskGauges(byStateAndModel: rows, queueDepth: depth)
        }
    }
}
