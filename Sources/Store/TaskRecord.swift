import Domain

/// A task as stored, with its results.
public struct TaskRecord: Sendable, Equatable {
    public var uuid: String
    public var apiKeyName: String
    public var model: String
    public var requestJSON: String
    public var state: TaskState
    public var createdAt: Double
    public var updatedAt: Double
    public var dispatchedAt: Double?
    public var deadlineAt: Double?
    public var attempts: Int = 0
    public var nextAttemptAt: Double = 0
    public var leaseOwner: String?
    public var leaseExpiresAt: Double?
    public var provider: String?
    /// The upstream handle in its stored form (``upstream`` reads it).
    public var upstreamID: String?
    public var errorCode: String?
    public var errorMessage: String?
    /// The wait before the next poll of a parked running task.
    public var pollInterval: Double?
    public var results: [ResultRecord] = []
    /// Set when the task was created through the OpenAI-compatible API (its video there).
    public var openAI: String?
    /// When that API's `DELETE` removed the video; the record stays for ops.
    public var deletedAt: Double?

    /// The jobs upstream, once a provider accepted the task.
    public var upstream: UpstreamJob? { upstreamID.flatMap(UpstreamJob.init(stored:)) }

    public init(uuid: String, apiKeyName: String, model: String, requestJSON: String, state: TaskState, createdAt: Double, updatedAt: Double) {
        self.uuid = uuid
        self.apiKeyName = apiKeyName
        self.model = model
        self.requestJSON = requestJSON
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
