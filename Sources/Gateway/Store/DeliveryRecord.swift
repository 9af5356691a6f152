import SQLite

/// One thing to deliver: an upload or a webhook, for one result (or, for a failed task's
/// `errors` webhook, for the task).
public struct DeliveryRecord: Sendable {
    public enum Kind: String, Sendable { case upload, webhook }
    public enum State: String, Sendable { case pending, sending, delivered, failed }

    public var id: Int64
    public var taskUUID: String
    public var videoUUID: String?
    public var kind: Kind
    public var url: String
    /// Stable across attempts and redeliveries: the `webhook-id` receivers dedupe on.
    public var messageID: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Double
    public var lastError: String?
    /// The key whose task this is, and `host:port` of the target: what the delivery quota counts.
    public var apiKeyName: String
    public var targetHost: String

    init(row: Row) {
        apiKeyName = row["api_key_name"].string ?? ""
        targetHost = row["target_host"].string ?? ""
        id = row["id"].int64 ?? 0
        taskUUID = row["task_uuid"].string ?? ""
        videoUUID = row["video_uuid"].string
        kind = Kind(rawValue: row["kind"].string ?? "") ?? .webhook
        url = row["url"].string ?? ""
        messageID = row["message_id"].string ?? ""
        state = State(rawValue: row["state"].string ?? "") ?? .pending
        attempts = row["attempts"].int ?? 0
        nextAttemptAt = row["next_attempt_at"].double ?? 0
        lastError = row["last_error"].string
    }
}

/// A delivery to create.
public struct NewDelivery: Sendable {
    public var videoUUID: String?
    public var kind: DeliveryRecord.Kind
    public var url: String
    public var messageID: String
}

/// What one attempt did, for the record shown by `GET /v1/tasks/<id>`.
public struct DeliveryAttempt: Sendable {
    public var at: Double
    public var targetHost: String
    public var statusCode: Int?
    public var latencyMilliseconds: Double
    public var error: String?
}

/// What to do after an attempt.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Double)
    case failed(String)
}
