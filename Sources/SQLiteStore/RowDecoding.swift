import Domain
import SQLite
import Store

/// A column holding one of the code's enums: a value the code does not know is an error
/// (``StoreError/undecodable(table:column:value:)``), never a guess such as `failed`.
func decode<Value: RawRepresentable>(_ row: Row, _ column: String, table: String) throws -> Value where Value.RawValue == String {
    let raw = row[column].string ?? ""
    guard let value = Value(rawValue: raw) else { throw StoreError.undecodable(table: table, column: column, value: raw) }
    return value
}

/// A column that must hold text.
func text(_ row: Row, _ column: String, table: String) throws -> String {
    guard let value = row[column].string else { throw StoreError.undecodable(table: table, column: column, value: "\(row[column])") }
    return value
}

extension TaskRecord {
    init(row: Row) throws {
        self.init(uuid: try text(row, "uuid", table: "tasks"), apiKeyName: try text(row, "api_key_name", table: "tasks"),
                  model: try text(row, "model", table: "tasks"), requestJSON: try text(row, "request_json", table: "tasks"),
                  state: try decode(row, "state", table: "tasks"), createdAt: row["created_at"].double ?? 0, updatedAt: row["updated_at"].double ?? 0)
        dispatchedAt = row["dispatched_at"].double
        deadlineAt = row["deadline_at"].double
        attempts = row["attempts"].int ?? 0
        nextAttemptAt = row["next_attempt_at"].double ?? 0
        leaseOwner = row["lease_owner"].string
        leaseExpiresAt = row["lease_expires_at"].double
        provider = row["provider"].string
        upstreamID = row["upstream_id"].string
        errorCode = row["error_code"].string
        errorMessage = row["error_message"].string
        pollInterval = row["poll_interval"].double
    }
}

extension ResultRecord {
    init(row: Row) throws {
        self.init(videoUUID: try text(row, "video_uuid", table: "results"), index: row["idx"].int ?? 0, seed: row["seed"].int64 ?? 0,
                  state: try decode(row, "state", table: "results"), format: row["format"].string ?? "MP4")
        progress = row["progress"].int ?? 0
        mediaPath = row["media_path"].string
        mediaBytes = row["media_bytes"].int64
        readyAt = row["ready_at"].double
        expiresAt = row["expires_at"].double
        cost = row["cost"].double
        errorCode = row["error_code"].string
        errorMessage = row["error_message"].string
    }
}

extension DeliveryRecord {
    init(row: Row) throws {
        self.init(
            id: row["id"].int64 ?? 0, taskUUID: try text(row, "task_uuid", table: "deliveries"), videoUUID: row["video_uuid"].string,
            kind: try decode(row, "kind", table: "deliveries"), url: try text(row, "url", table: "deliveries"),
            messageID: row["message_id"].string ?? "", state: try decode(row, "state", table: "deliveries"), attempts: row["attempts"].int ?? 0,
            nextAttemptAt: row["next_attempt_at"].double ?? 0, lastError: row["last_error"].string,
            apiKeyName: row["api_key_name"].string ?? "", targetHost: row["target_host"].string ?? "")
    }
}
