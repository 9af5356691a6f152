import Domain

/// What ops read: event logs, task lists, lineage, delivery records and gauges.
public protocol OpsReads: Sendable {
    /// The task's event log, oldest first.
    func events(_ uuid: String) async throws -> [TaskLogEntry]

    /// A page of tasks, newest first, each with its results but without its request
    /// (`requestJSON` is empty; ``TaskRepository/find(_:)`` has it); `cursor` is the previous
    /// page's last (createdAt, uuid).
    func list(_ filter: TaskListFilter, limit: Int, cursor: (Double, String)?) async throws -> [TaskRecord]

    /// Every result connected to `videoUUID` through edits (SPEC §9): its ancestors up to the root
    /// and all descendants of that root.
    func lineage(of videoUUID: String) async throws -> [LineageNode]

    /// A task's deliveries with their attempts.
    func deliveries(_ uuid: String) async throws -> [(DeliveryRecord, [DeliveryAttempt])]

    /// The event log (from `task`'s acceptance) and the deliveries together, as one snapshot where
    /// the backend can: the ops view of a task shows both on every poll, and has the task already.
    func history(of task: TaskRecord) async throws -> TaskHistory

    /// Task counts by state and model, and the queued tasks due now (for /metrics).
    func gauges() async throws -> TaskGauges

    /// The newest tasks accepted since `since` (of one key, if given), at most `limit`, newest
    /// first: the console's headline numbers are computed from them.
    func timings(since: Double, keyName: String?, limit: Int) async throws -> [TaskTiming]
}

extension OpsReads {
    public func history(of task: TaskRecord) async throws -> TaskHistory {
        TaskHistory(events: try await events(task.uuid), deliveries: try await deliveries(task.uuid))
    }
}

/// A task's event log and its deliveries with their attempts.
public struct TaskHistory: Sendable, Equatable {
    public var events: [TaskLogEntry]
    public var deliveries: [(DeliveryRecord, [DeliveryAttempt])]

    public init(events: [TaskLogEntry], deliveries: [(DeliveryRecord, [DeliveryAttempt])]) {
        self.events = events
        self.deliveries = deliveries
    }

    public static func == (a: TaskHistory, b: TaskHistory) -> Bool {
        a.events == b.events && a.deliveries.count == b.deliveries.count
            && zip(a.deliveries, b.deliveries).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// One line of a task's event log.
public struct TaskLogEntry: Sendable, Equatable {
    public var at: Double
    public var state: TaskState
    public var detail: String?

    public init(at: Double, state: TaskState, detail: String?) {
        self.at = at
        self.state = state
        self.detail = detail
    }
}

/// Which tasks an ops list shows.
public struct TaskListFilter: Sendable, Equatable {
    public var keyName: String?
    public var state: TaskState?
    public var model: String?
    public var since: Double?
    /// Only videos of the OpenAI-compatible API that were not deleted.
    public var openAIVideos = false
    /// Oldest first (the cursor then means "after this one" going forward).
    public var ascending = false

    public init(keyName: String? = nil, state: TaskState? = nil, model: String? = nil, since: Double? = nil,
                openAIVideos: Bool = false, ascending: Bool = false) {
        self.keyName = keyName
        self.state = state
        self.model = model
        self.since = since
        self.openAIVideos = openAIVideos
        self.ascending = ascending
    }
}

/// One result in a lineage tree.
public struct LineageNode: Sendable, Equatable {
    public var videoUUID: String
    public var taskUUID: String
    public var parent: String?
    public var prompt: String
    public var state: ResultState
    public var keyName: String

    public init(videoUUID: String, taskUUID: String, parent: String?, prompt: String, state: ResultState, keyName: String) {
        self.videoUUID = videoUUID
        self.taskUUID = taskUUID
        self.parent = parent
        self.prompt = prompt
        self.state = state
        self.keyName = keyName
    }
}

/// Task counts for /metrics.
public struct TaskGauges: Sendable, Equatable {
    public struct Count: Sendable, Equatable {
        public var state: TaskState
        public var model: String
        public var count: Int
        public init(state: TaskState, model: String, count: Int) {
            self.state = state
            self.model = model
            self.count = count
        }
    }
    public var byStateAndModel: [Count]
    /// Queued tasks due now.
    public var queueDepth: Int

    public init(byStateAndModel: [Count], queueDepth: Int) {
        self.byStateAndModel = byStateAndModel
        self.queueDepth = queueDepth
    }
}
