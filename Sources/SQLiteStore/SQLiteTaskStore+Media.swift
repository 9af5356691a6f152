import SQLite
import Store

extension SQLiteTaskStore {
    public func findResult(_ videoUUID: String) async throws -> (ResultRecord, taskUUID: String)? {
        try pool.readNow { db in
            guard let row = try db.query("SELECT * FROM results WHERE video_uuid = ?", [videoUUID]).first else { return nil }
            return (try ResultRecord(row: row), row["task_uuid"].string ?? "")
        }
    }

    public func expiredMedia(before now: Double, limit: Int, skipping: Int) async throws -> [StoredFile] {
        try await pool.read { db in
            try db.query(
                "SELECT video_uuid, media_path, media_bytes FROM results WHERE media_path IS NOT NULL AND expires_at < ? ORDER BY expires_at, video_uuid LIMIT ? OFFSET ?",
                [now, limit, skipping]
            ).map { StoredFile(id: $0["video_uuid"].string ?? "", path: $0["media_path"].string ?? "", bytes: $0["media_bytes"].int64 ?? 0) }
        }
    }

    @discardableResult
    public func mediaRemoved(_ videoUUID: String) async throws -> Bool {
        // Evicted whatever the write's outcome (a failed commit may still have happened).
        // Only the column it needs: a row this build cannot decode must still lose its media.
        let taskUUID = try pool.readNow { db in try db.scalar("SELECT task_uuid FROM results WHERE video_uuid = ?", [videoUUID]).string }
        defer { if let taskUUID { finished.evict(taskUUID) } }
        return try await pool.write { db in
            try db.execute("UPDATE results SET media_path = NULL WHERE video_uuid = ? AND media_path IS NOT NULL", [videoUUID])
            return db.changes == 1
        }
    }

    public func mediaBytesInUse() throws -> Int64 {
        try pool.readBlocking { db in
            // Local files only: objects in a bucket (`s3:` paths) are not on this disk.
            let results = try db.scalar("SELECT coalesce(sum(media_bytes), 0) FROM results WHERE media_path IS NOT NULL AND media_path NOT LIKE 's3:%'").int64 ?? 0
            let images = try db.scalar("SELECT coalesce(sum(bytes), 0) FROM images WHERE path NOT LIKE 's3:%'").int64 ?? 0
            return results + images
        }
    }

    public func storeImage(_ image: UploadedImage) async throws {
        let now = clock()
        try await pool.write { db in
            try db.execute("INSERT INTO images (uuid, api_key_name, path, mime, bytes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [image.uuid, image.keyName, image.path, image.mime, image.bytes, now, image.expiresAt])
        }
    }

    public func image(_ uuid: String) async throws -> UploadedImage? {
        let now = clock()
        return try pool.readNow { db in
            try db.query("SELECT * FROM images WHERE uuid = ? AND expires_at > ?", [uuid, now]).first.map {
                UploadedImage(uuid: uuid, keyName: $0["api_key_name"].string ?? "", path: $0["path"].string ?? "", mime: $0["mime"].string ?? "",
                              bytes: $0["bytes"].int ?? 0, expiresAt: $0["expires_at"].double ?? 0)
            }
        }
    }

    public func expiredImages(before now: Double, limit: Int, skipping: Int) async throws -> [StoredFile] {
        try await pool.read { db in
            try db.query("SELECT uuid, path, bytes FROM images WHERE expires_at <= ? ORDER BY expires_at, uuid LIMIT ? OFFSET ?", [now, limit, skipping]).map {
                StoredFile(id: $0["uuid"].string ?? "", path: $0["path"].string ?? "", bytes: $0["bytes"].int64 ?? 0)
            }
        }
    }

    @discardableResult
    public func imageRemoved(_ uuid: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute("DELETE FROM images WHERE uuid = ?", [uuid])
            return db.changes == 1
        }
    }
}
