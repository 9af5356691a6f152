import SQLite
import Store

extension SQLiteTaskStore {
    public func recordStart(version: String) throws {
        try pool.writeUnbatched { db in
            try db.execute("INSERT INTO instance_starts (started_at, version) VALUES (?, ?)", [clock(), version])
        }
    }

    public func checkWritable() async throws {
        let now = clock()
        try await pool.write { db in try db.execute("UPDATE health SET checked_at = ? WHERE id = 1", [now]) }
    }

    public func setting(_ key: String, orCreate make: @escaping @Sendable () -> String) throws -> String {
        try pool.writeUnbatched { db in
            if let value = try db.scalar("SELECT value FROM settings WHERE key = ?", [key]).string { return value }
            let value = make()
            try db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [key, value])
            return value
        }
    }

    @discardableResult
    public func releaseAllLeases() throws -> Int {
        try pool.writeUnbatched { db in
            try db.execute("UPDATE tasks SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL AND lease_owner != ?", [Self.quarantined])
            let tasks = db.changes
            // A delivery in flight at the crash is attempted again: at-least-once.
            try db.execute("UPDATE deliveries SET lease_expires_at = 0 WHERE state = ?", [DeliveryRecord.State.sending.rawValue])
            return tasks + db.changes
        }
    }
}
