import Domain

/// A stored row as the records read it, whatever the backend: each store gives its row type
/// these three readers, and ``TaskRecord`` and ``ResultRecord`` are read from rows in one place.
public protocol RecordColumns {
    func text(_ column: String) throws -> String?
    func real(_ column: String) throws -> Double?
    func integer(_ column: String) throws -> Int64?
}

extension RecordColumns {
    /// Text that must be there.
    func required(_ column: String, table: String) throws -> String {
        guard let value = try text(column) else { throw StoreError.undecodable(table: table, column: column, value: "NULL") }
        return value
    }

    /// A column holding one of the code's enums: a value the code does not know is an error
    /// (``StoreError/undecodable(table:column:value:)``), never a guess such as `failed`.
    public func decode<Value: RawRepresentable>(_ column: String, table: String) throws -> Value where Value.RawValue == String {
        let raw = try text(column) ?? ""
        guard let value = Value(rawValue: raw) else { throw StoreError.undecodable(table: table, column: column, value: raw) }
        return value
    }
}

extension TaskRecord {
    /// Every column of a task but its request, which a listed task leaves empty: a page of tasks
    /// never reads megabytes of inline images it does not show (``OpsReads/list(_:limit:cursor:)``).
    public static let listedColumns = [
        "uuid", "api_key_name", "model", "request_hash", "state", "created_at", "updated_at", "dispatched_at", "deadline_at", "attempts",
        "next_attempt_at", "lease_owner", "lease_expires_at", "provider", "upstream_id", "error_code", "error_message", "parent_video_uuid",
        "poll_interval", "openai_json", "deleted_at",
    ].joined(separator: ", ") + ", '' AS request_json"

    public init(columns row: some RecordColumns) throws {
        self.init(uuid: try row.required("uuid", table: "tasks"), apiKeyName: try row.required("api_key_name", table: "tasks"),
                  model: try row.required("model", table: "tasks"), requestJSON: try row.required("request_json", table: "tasks"),
                  state: try row.decode("state", table: "tasks"), createdAt: try row.real("created_at") ?? 0, updatedAt: try row.real("updated_at") ?? 0)
        dispatchedAt = try row.real("dispatched_at")
        deadlineAt = try row.real("deadline_at")
        attempts = Int(try row.integer("attempts") ?? 0)
        nextAttemptAt = try row.real("next_attempt_at") ?? 0
        leaseOwner = try row.text("lease_owner")
        leaseExpiresAt = try row.real("lease_expires_at")
        provider = try row.text("provider")
        upstreamID = try row.text("upstream_id")
        errorCode = try row.text("error_code")
        errorMessage = try row.text("error_message")
        pollInterval = try row.real("poll_interval")
        openAI = try row.text("openai_json")
        deletedAt = try row.real("deleted_at")
    }
}

extension ResultRecord {
    public init(columns row: some RecordColumns) throws {
        self.init(videoUUID: try row.required("video_uuid", table: "results"), index: Int(try row.integer("idx") ?? 0),
                  seed: try row.integer("seed") ?? 0, state: try row.decode("state", table: "results"), format: try row.text("format") ?? "MP4")
        progress = Int(try row.integer("progress") ?? 0)
        mediaPath = try row.text("media_path")
        mediaBytes = try row.integer("media_bytes")
        readyAt = try row.real("ready_at")
        expiresAt = try row.real("expires_at")
        cost = try row.real("cost")
        errorCode = try row.text("error_code")
        errorMessage = try row.text("error_message")
    }
}
