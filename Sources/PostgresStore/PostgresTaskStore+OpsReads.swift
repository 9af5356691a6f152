import Domain
import Postgres
import Store

/// What ops read: a task's log, pages of tasks, an edit tree, a task's deliveries, gauges.
extension PostgresTaskStore {
    public func events(_ uuid: String) async throws -> [TaskLogEntry] {
        let (created, rows) = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> (Double?, [PostgresRow]) in
            let created = try db.execute(prepared: "created_at", "SELECT created_at FROM tasks WHERE uuid = $1", [uuid]).allRows.first
            guard let created else { return (nil, []) }
            return (try created.double("created_at"),
                    try db.execute(prepared: "events", "SELECT at, state, detail FROM task_events WHERE task_uuid = $1 ORDER BY id", [uuid]).allRows)
        }
        guard let created else { return [] }
        return try [TaskLogEntry(at: created, state: .queued, detail: "accepted")] + rows.map { row in
            TaskLogEntry(at: try row.double("at") ?? 0, state: try PostgresColumns(row: row).decode("state", table: "task_events"),
                         detail: try row.string("detail"))
        }
    }

    public func list(_ filter: TaskListFilter, limit: Int, cursor: (Double, String)?) async throws -> [TaskRecord] {
        var sql = "SELECT \(TaskRecord.listedColumns) FROM tasks WHERE true"
        var args: [String?] = []
        func bind(_ value: String) -> String {
            args.append(value)
            return "$\(args.count)"
        }
        if let keyName = filter.keyName { sql += " AND api_key_name = \(bind(keyName))" }
        if let state = filter.state { sql += " AND state = \(bind(state.rawValue))" }
        if let model = filter.model { sql += " AND model = \(bind(model))" }
        if let since = filter.since { sql += " AND created_at >= \(bind(String(since)))::double precision" }
        if filter.openAIVideos { sql += " AND openai_json IS NOT NULL AND deleted_at IS NULL" }
        let (before, order) = filter.ascending ? (">", "ASC") : ("<", "DESC")
        if let cursor {
            let at = bind(String(cursor.0)), uuid = bind(cursor.1)
            sql += " AND (created_at \(before) \(at)::double precision OR (created_at = \(at)::double precision AND uuid \(before) \(uuid)))"
        }
        sql += " ORDER BY created_at \(order), uuid \(order) LIMIT \(bind(String(limit)))"
        let (query, arguments) = (sql, args)
        let (rows, resultRows) = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> ([PostgresRow], [PostgresRow]) in
            let rows = try db.execute(query, arguments).allRows
            guard !rows.isEmpty else { return (rows, []) }
            // Their results in one more query, so a page shows cost and results without a read per task.
            var uuids: [String?] = []
            for row in rows { uuids.append(try row.string("uuid")) }
            return (rows, try db.execute("SELECT * FROM results WHERE task_uuid = ANY($1::text[]) ORDER BY idx", [try PostgresArray.literal(uuids)]).allRows)
        }
        var results: [String: [ResultRecord]] = [:]
        for row in resultRows { results[try row.string("task_uuid") ?? "", default: []].append(try ResultRecord(columns: PostgresColumns(row: row))) }
        return try rows.map {
            var task = try TaskRecord(columns: PostgresColumns(row: $0))
            task.results = results[task.uuid] ?? []
            return task
        }
    }

    public func lineage(of videoUUID: String) async throws -> [LineageNode] {
        let rows = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> [PostgresRow] in
            // Up to the root through each task's parent video.
            var root = videoUUID
            var seen: Set<String> = [videoUUID]
            while let parent = try db.execute(
                "SELECT t.parent_video_uuid FROM results r JOIN tasks t ON t.uuid = r.task_uuid WHERE r.video_uuid = $1", [root]
            ).rows.first?[0], seen.insert(parent).inserted {
                root = parent
            }
            return try db.execute(
                """
                WITH RECURSIVE tree(video_uuid) AS (
                    SELECT $1::text
                    UNION
                    SELECT r.video_uuid FROM results r JOIN tasks t ON t.uuid = r.task_uuid JOIN tree ON t.parent_video_uuid = tree.video_uuid
                )
                SELECT r.video_uuid, r.task_uuid, t.parent_video_uuid, t.request_json, r.state, t.api_key_name
                FROM tree JOIN results r ON r.video_uuid = tree.video_uuid JOIN tasks t ON t.uuid = r.task_uuid
                ORDER BY t.created_at, r.idx
                """, [root]).allRows
        }
        return try rows.map { row in
            let prompt = (try? JSONParser.parse(try row.string("request_json") ?? "{}"))?["positivePrompt"]?.string ?? ""
            return LineageNode(videoUUID: try row.string("video_uuid") ?? "", taskUUID: try row.string("task_uuid") ?? "",
                               parent: try row.string("parent_video_uuid"), prompt: prompt,
                               state: try PostgresColumns(row: row).decode("state", table: "results"), keyName: try row.string("api_key_name") ?? "")
        }
    }

    public func deliveries(_ uuid: String) async throws -> [(DeliveryRecord, [DeliveryAttempt])] {
        let (records, attempts) = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> ([PostgresRow], [PostgresRow]) in
            (try db.execute("SELECT * FROM deliveries WHERE task_uuid = $1 ORDER BY id", [uuid]).allRows,
             try db.execute("SELECT * FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE task_uuid = $1) ORDER BY id", [uuid]).allRows)
        }
        var byDelivery: [Int64: [DeliveryAttempt]] = [:]
        for row in attempts {
            byDelivery[try row.int("delivery_id") ?? 0, default: []].append(
                DeliveryAttempt(at: try row.double("at") ?? 0, targetHost: try row.string("target_host") ?? "",
                                statusCode: try row.int("status_code").map { Int($0) }, latencyMilliseconds: try row.double("latency_ms") ?? 0,
                                error: try row.string("error")))
        }
        return try records.map { row in
            let record = try Self.delivery(row)
            return (record, byDelivery[record.id] ?? [])
        }
    }

    public func gauges() async throws -> TaskGauges {
        let now = self.now
        let (counts, depth) = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> ([PostgresRow], Int64) in
            (try db.execute("SELECT state, model, count(*) AS n FROM tasks GROUP BY state, model").allRows,
             try db.execute("SELECT count(*) AS n FROM tasks WHERE state = $1 AND next_attempt_at <= $2", [TaskState.queued.rawValue, String(now)])
                .row(0).int("n") ?? 0)
        }
        return TaskGauges(
            byStateAndModel: try counts.map { row in
                TaskGauges.Count(state: try PostgresColumns(row: row).decode("state", table: "tasks"), model: try row.string("model") ?? "",
                                 count: Int(try row.int("n") ?? 0))
            }, queueDepth: Int(depth))
    }
}
