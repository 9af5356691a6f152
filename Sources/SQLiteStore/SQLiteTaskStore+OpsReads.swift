import Domain
import SQLite
import Store

extension SQLiteTaskStore {
    public func events(_ uuid: String) async throws -> [TaskLogEntry] {
        try pool.readNow { db in
            guard let created = try db.scalar("SELECT created_at FROM tasks WHERE uuid = ?", [uuid]).double else { return [] }
            return try Self.events(db, uuid, acceptedAt: created)
        }
    }

    /// Both in one read transaction: a transaction's start and end (the WAL read lock) cost more
    /// than the queries of a task's log.
    public func history(of task: TaskRecord) async throws -> TaskHistory {
        try pool.readNow { db in
            TaskHistory(events: try Self.events(db, task.uuid, acceptedAt: task.createdAt), deliveries: try Self.deliveries(db, task.uuid))
        }
    }

    /// The log begins with the acceptance, which the task row records (`created_at`), not an event.
    static func events(_ db: Database, _ uuid: String, acceptedAt: Double) throws -> [TaskLogEntry] {
        let accepted = TaskLogEntry(at: acceptedAt, state: .queued, detail: "accepted")
        return try [accepted] + db.query("SELECT at, state, detail FROM task_events WHERE task_uuid = ? ORDER BY id", [uuid]).map {
            TaskLogEntry(at: $0["at"].double ?? 0, state: try decode($0, "state", table: "task_events"), detail: $0["detail"].string)
        }
    }

    public func list(_ filter: TaskListFilter, limit: Int, cursor: (Double, String)?) async throws -> [TaskRecord] {
        try await pool.read { db in
            var sql = "SELECT \(TaskRecord.listedColumns) FROM tasks WHERE 1 = 1"
            var args: [any SQLiteBindable] = []
            if let keyName = filter.keyName { sql += " AND api_key_name = ?"; args.append(keyName) }
            if let state = filter.state { sql += " AND state = ?"; args.append(state.rawValue) }
            if let model = filter.model { sql += " AND model = ?"; args.append(model) }
            if let since = filter.since { sql += " AND created_at >= ?"; args.append(since) }
            if filter.openAIVideos { sql += " AND openai_json IS NOT NULL AND deleted_at IS NULL" }
            let (before, order) = filter.ascending ? (">", "ASC") : ("<", "DESC")
            if let cursor { sql += " AND (created_at \(before) ? OR (created_at = ? AND uuid \(before) ?))"; args += [cursor.0, cursor.0, cursor.1] }
            sql += " ORDER BY created_at \(order), uuid \(order) LIMIT ?"
            args.append(limit)
            var tasks = try db.query(sql, args).map { try TaskRecord(row: $0) }
            // Their results in one more query, so a page shows cost and results without a read per task.
            guard !tasks.isEmpty else { return tasks }
            var results: [String: [ResultRecord]] = [:]
            let marks = Array(repeating: "?", count: tasks.count).joined(separator: ", ")
            for row in try db.query("SELECT * FROM results WHERE task_seq IN (SELECT seq FROM tasks WHERE uuid IN (\(marks))) ORDER BY idx",
                                    tasks.map(\.uuid)) {
                results[row["task_uuid"].string ?? "", default: []].append(try ResultRecord(row: row))
            }
            for index in tasks.indices { tasks[index].results = results[tasks[index].uuid] ?? [] }
            return tasks
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
                    SELECT r.video_uuid FROM results r JOIN tasks t ON r.task_seq = t.seq JOIN tree ON t.parent_video_uuid = tree.video_uuid
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

    /// Two queries whatever the number of deliveries (a point read, on the caller's thread).
    public func deliveries(_ uuid: String) async throws -> [(DeliveryRecord, [DeliveryAttempt])] {
        try pool.readNow { db in try Self.deliveries(db, uuid) }
    }

    static func deliveries(_ db: Database, _ uuid: String) throws -> [(DeliveryRecord, [DeliveryAttempt])] {
        let records = try db.query("SELECT * FROM deliveries WHERE task_uuid = ? ORDER BY id", [uuid]).map { try DeliveryRecord(row: $0) }
        guard !records.isEmpty else { return [] }
        var attempts: [Int64: [DeliveryAttempt]] = [:]
        try db.forEachRow(
            "SELECT * FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE task_uuid = ?) ORDER BY id", [uuid]
        ) { row in
            attempts[row["delivery_id"].int64 ?? 0, default: []].append(
                DeliveryAttempt(at: row["at"].double ?? 0, targetHost: row["target_host"].string ?? "", statusCode: row["status_code"].int,
                                latencyMilliseconds: row["latency_ms"].double ?? 0, error: row["error"].string))
        }
        return records.map { ($0, attempts[$0.id] ?? []) }
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
