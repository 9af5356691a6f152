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
    /// What the OpenAI-compatible API keeps of a video it created (JSON; SPEC §18): the task is
    /// a video there only if this is set.
    public var openAI: String?

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
