import Domain
import Postgres
import Store

/// The console's sessions and headline figures, and the OpenAI API's deletions.
extension PostgresTaskStore {
    public func createConsoleSession(_ session: ConsoleSession, keepingAtMost: Int) async throws {
        let now = self.now
        try await pool.transaction { (db: PostgresConnection) throws(PostgresError) in
            try db.execute("DELETE FROM console_sessions WHERE expires_at <= $1", [String(now)])
            try db.execute("INSERT INTO console_sessions (digest, api_key_name, key_fingerprint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                           [session.digest, session.keyName, session.keyFingerprint, String(session.createdAt), String(session.expiresAt)])
            try db.execute(
                """
                DELETE FROM console_sessions WHERE api_key_name = $1 AND digest NOT IN
                    (SELECT digest FROM console_sessions WHERE api_key_name = $1 ORDER BY created_at DESC, digest LIMIT $2::integer)
                """, [session.keyName, String(keepingAtMost)])
        }
    }

    public func consoleSession(digest: String) async throws -> ConsoleSession? {
        let now = self.now
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> ConsoleSession? in
            guard let row = try db.execute(prepared: "console_session", "SELECT * FROM console_sessions WHERE digest = $1 AND expires_at > $2",
                                           [digest, String(now)]).allRows.first else { return nil }
            return ConsoleSession(digest: digest, keyName: try row.string("api_key_name") ?? "", keyFingerprint: try row.string("key_fingerprint") ?? "",
                                  createdAt: try row.double("created_at") ?? 0, expiresAt: try row.double("expires_at") ?? 0)
        }
    }

    public func deleteConsoleSession(digest: String) async throws {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            _ = try db.execute("DELETE FROM console_sessions WHERE digest = $1", [digest])
        }
    }

    public func timings(since: Double, keyName: String?, limit: Int) async throws -> [TaskTiming] {
        var sql = "SELECT state, created_at, updated_at FROM tasks WHERE created_at >= $1::double precision"
        var args: [String?] = [String(since)]
        if let keyName {
            args.append(keyName)
            sql += " AND api_key_name = $2"
        }
        args.append(String(limit))
        sql += " ORDER BY created_at DESC LIMIT $\(args.count)"
        let (query, arguments) = (sql, args)
        let rows = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> [PostgresRow] in
            try db.execute(query, arguments).allRows
        }
        return try rows.map { row in
            TaskTiming(state: try PostgresColumns(row: row).decode("state", table: "tasks"), createdAt: try row.double("created_at") ?? 0,
                       updatedAt: try row.double("updated_at") ?? 0)
        }
    }

    public func markVideoDeleted(_ uuid: String) async throws -> Bool {
        let now = self.now
        return try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute("UPDATE tasks SET deleted_at = $1 WHERE uuid = $2 AND openai_json IS NOT NULL AND deleted_at IS NULL",
                           [String(now), uuid]).affectedRows == 1
        }
    }
}
