import Domain

/// One thing to deliver: an upload or a webhook, for one result (or, for a failed task's
/// `errors` webhook, for the task).
public struct DeliveryRecord: Sendable, Equatable {
    public enum State: String, Sendable { case pending, sending, delivered, failed }

    public var id: Int64
    public var taskUUID: String
    public var videoUUID: String?
    public var kind: DeliveryKind
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

    public init(id: Int64, taskUUID: String, videoUUID: String?, kind: DeliveryKind, url: String, messageID: String, state: State,
                attempts: Int, nextAttemptAt: Double, lastError: String?, apiKeyName: String, targetHost: String) {
        self.id = id
        self.taskUUID = taskUUID
        self.videoUUID = videoUUID
        self.kind = kind
        self.url = url
        self.messageID = messageID
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.apiKeyName = apiKeyName
        self.targetHost = targetHost
    }
}

/// What one attempt did, for the record shown by `GET /v1/tasks/<id>`.
public struct DeliveryAttempt: Sendable, Equatable {
    public var at: Double
    public var targetHost: String
    public var statusCode: Int?
    public var latencyMilliseconds: Double
    public var error: String?

    public init(at: Double, targetHost: String, statusCode: Int?, latencyMilliseconds: Double, error: String?) {
        self.at = at
        self.targetHost = targetHost
        self.statusCode = statusCode
        self.latencyMilliseconds = latencyMilliseconds
        self.error = error
    }
}

/// What to do after an attempt.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Double)
    case failed(String)
}
