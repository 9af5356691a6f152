import Domain
import SQLite

/// A task row with its results, as the store returns it.
public struct TaskRecord: Sendable {
    public var uuid: String
    public var apiKeyName: String
    public var model: String
    public var requestJSON: String
    public var state: TaskState
    public var createdAt: Double
    public var updatedAt: Double
    public var dispatchedAt: Double?
    public var deadlineAt: Double?
    public var attempts: Int
    public var nextAttemptAt: Double
    public var leaseOwner: String?
    public var leaseExpiresAt: Double?
    public var provider: String?
    public var upstreamID: String?
    public var errorCode: String?
    public var errorMessage: String?
    /// The wait before the next poll of a parked running task.
    public var pollInterval: Double?
    public var results: [ResultRecord] = []

    init(row: Row) {
        uuid = row["uuid"].string ?? ""
        apiKeyName = row["api_key_name"].string ?? ""
        model = row["model"].string ?? ""
        requestJSON = row["request_json"].string ?? "{}"
        state = TaskState(rawValue: row["state"].string ?? "") ?? .failed
        createdAt = row["created_at"].double ?? 0
        updatedAt = row["updated_at"].double ?? 0
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

/// One of a task's videos.
public struct ResultRecord: Sendable {
    public var videoUUID: String
    public var index: Int
    public var seed: Int64
    public var state: ResultState
    public var progress: Int
    public var format: String
    public var mediaPath: String?
    public var mediaBytes: Int64?
    public var readyAt: Double?
    public var expiresAt: Double?
    public var cost: Double?
    public var errorCode: String?
    public var errorMessage: String?

    init(row: Row) {
        videoUUID = row["video_uuid"].string ?? ""
        index = row["idx"].int ?? 0
        seed = row["seed"].int64 ?? 0
        state = ResultState(rawValue: row["state"].string ?? "") ?? .pending
        progress = row["progress"].int ?? 0
        format = row["format"].string ?? "MP4"
        mediaPath = row["media_path"].string
        mediaBytes = row["media_bytes"].int64
        readyAt = row["ready_at"].double
        expiresAt = row["expires_at"].double
        cost = row["cost"].double
        errorCode = row["error_code"].string
        errorMessage = row["error_message"].string
    }
}

/// An accepted `videoInference` task about to be stored.
public struct NewTask: Sendable {
    public var uuid: String
    public var apiKeyName: String
    public var model: String
    public var requestJSON: String
    public var requestHash: String
    public var format: String
    public var seeds: [Int64]
    public var videoUUIDs: [String]
    public var parentVideoUUID: String?
    /// The key's cap on unfinished tasks, if it has one.
    public var maxInFlight: Int?

    public init(uuid: String, apiKeyName: String, model: String, requestJSON: String, requestHash: String, format: String,
                seeds: [Int64], videoUUIDs: [String], parentVideoUUID: String?, maxInFlight: Int?) {
        self.uuid = uuid
        self.apiKeyName = apiKeyName
        self.model = model
        self.requestJSON = requestJSON
        self.requestHash = requestHash
        self.format = format
        self.seeds = seeds
        self.videoUUIDs = videoUUIDs
        self.parentVideoUUID = parentVideoUUID
        self.maxInFlight = maxInFlight
    }
}

/// What storing a submitted task did.
public enum SubmitOutcome: Sendable, Equatable {
    case created
    /// The same taskUUID with the same body: answered with the original ACK.
    case duplicate
    /// The same taskUUID with a different body, or another key's task.
    case conflict
    /// The key already has its maximum of unfinished tasks.
    case tooManyInFlight
}
