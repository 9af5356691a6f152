import Domain
import SQLite
import Store

/// The console's sessions and headline figures, and the OpenAI API's deletions.
extension SQLiteTaskStore {
    public func createConsoleSession(_ session: ConsoleSession, keepingAtMost: Int) async throws {
        let now = clock()
        try await pool.write { db in
            try db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", [now])
            try db.execute("INSERT INTO console_sessions (digest, api_key_name, key_fingerprint, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           [session.digest, session.keyName, session.keyFingerprint, session.createdAt, session.expiresAt])
            try db.execute(
                """
                DELETE FROM console_sessions WHERE api_key_name = ? AND digest NOT IN
                    (SELECT digest FROM console_sessions WHERE api_key_name = ? ORDER BY created_at DESC, digest LIMIT ?)
                """, [session.keyName, session.keyName, keepingAtMost])
        }
    }

    public func consoleSession(digest: String) async throws -> ConsoleSession? {
        let now = clock()
        return try pool.readNow { db in
            try db.query("SELECT * FROM console_sessions WHERE digest = ? AND expires_at > ?", [digest, now]).first.map {
                ConsoleSession(digest: digest, keyName: $0["api_key_name"].string ?? "", keyFingerprint: $0["key_fingerprint"].string ?? "",
                               createdAt: $0["created_at"].double ?? 0, expiresAt: $0["expires_at"].double ?? 0)
            }
        }
    }

    public func deleteConsoleSession(digest: String) async throws {
        try await pool.write { db in try db.execute("DELETE FROM console_sessions WHERE digest = ?", [digest]) }
    }

    public func timings(since: Double, keyName: String?, limit: Int) async throws -> [TaskTiming] {
        try await pool.read { db in
            var sql = "SELECT state, created_at, updated_at FROM tasks WHERE created_at >= ?"
            var args: [any SQLiteBindable] = [since]
            if let keyName { sql += " AND api_key_name = ?"; args.append(keyName) }
            sql += " ORDER BY created_at DESC LIMIT ?"
            args.append(limit)
            return try db.query(sql, args).map {
                TaskTiming(state: try decode($0, "state", table: "tasks"), createdAt: $0["created_at"].double ?? 0, updatedAt: $0["updated_at"].double ?? 0)
            }
        }
    }

    public func markVideoDeleted(_ uuid: String) async throws -> Bool {
        let now = clock()
        // Evicted whatever the write's outcome (a failed commit may still have happened).
        defer { finished.evict(uuid) }
        return try await pool.write { db in
            try db.execute("UPDATE tasks SET deleted_at = ? WHERE uuid = ? AND openai_json IS NOT NULL AND deleted_at IS NULL", [now, uuid])
            return db.changes == 1
        }
    }
}
