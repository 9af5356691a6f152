import Domain

/// Tasks, their results and the leases workers hold on them.
public protocol TaskRepository: Sendable {
    /// Seconds since 1970 on the store's clock: leases and due times are compared with it.
    var now: Double { get }

    /// Stores accepted tasks in one durable batch; a repeated taskUUID is a duplicate or a conflict.
    func submit(_ tasks: [NewTask]) async throws -> [SubmitOutcome]

    /// A task with its results, or nil.
    func find(_ uuid: String) async throws -> TaskRecord?

    /// Claims the next task to work on under a lease of `leaseSeconds`: one whose lease expired
    /// (``TaskEvent/resumed``) first, then a parked running task whose poll is due, then the
    /// oldest due queued task (``TaskEvent/claimed``).
    func claim(owner: String, leaseSeconds: Double) async throws -> TaskRecord?

    /// Extends a lease; false if `owner` no longer holds it.
    func renewLease(_ uuid: String, owner: String, leaseSeconds: Double) async throws -> Bool

    /// Parks a running task until its next poll at `until`: the lease goes, the task waits in the
    /// store and any worker takes it up when due. False if the lease was lost.
    func park(_ uuid: String, owner: String, until: Double, pollInterval: Double) async throws -> Bool

    /// Gives a lease back without a state change (graceful shutdown).
    func releaseLease(_ uuid: String, owner: String) async throws

    /// Applies a worker's lifecycle event to the task it holds: the step of ``TaskLifecycle``,
    /// with the event's data, in one transaction with the task's event log and with `readying`:
    /// videos of the task's still pending results stored meanwhile, recorded as by
    /// ``markResultReady(_:owner:media:)`` (a task's last video goes with its `resultsStored`
    /// step: one transaction, one wait, fewer before its webhook). False (and nothing written)
    /// when `owner` lost the lease or the task is not in a state the event may happen in.
    func apply(_ event: TaskEvent, to uuid: String, owner: String, readying: [ReadyVideo]) async throws -> Bool

    /// Progress of the task's unfinished results, under `owner`'s lease: a worker whose lease
    /// lapsed mid-poll must not write into a task another worker has since finished.
    func setProgress(_ uuid: String, owner: String, progress: Int) async throws

    /// A result's video is stored; false if `owner` no longer holds its task's lease.
    func markResultReady(_ videoUUID: String, owner: String, media: StoredVideo) async throws -> Bool

    /// Cancels a task that is not finished (``TaskEvent/cancelled``); returns the record as it
    /// was, or nil if unknown.
    func cancel(_ uuid: String) async throws -> TaskRecord?

    /// Marks a video of the OpenAI-compatible API deleted (its media is removed by the caller);
    /// the task stays for ops. False if there is no such video or it was deleted already.
    func markVideoDeleted(_ uuid: String) async throws -> Bool

    /// Unfinished tasks of a key.
    func inFlight(keyName: String) async throws -> Int
}

/// A stored video for a pending result, recorded with a lifecycle step.
public struct ReadyVideo: Sendable, Equatable {
    public var videoUUID: String
    public var media: StoredVideo

    public init(videoUUID: String, media: StoredVideo) {
        self.videoUUID = videoUUID
        self.media = media
    }
}

extension TaskRepository {
    /// ``apply(_:to:owner:readying:)`` with no video.
    public func apply(_ event: TaskEvent, to uuid: String, owner: String) async throws -> Bool {
        try await apply(event, to: uuid, owner: owner, readying: [])
    }
}

/// A result's stored video, as recorded when it is ready.
public struct StoredVideo: Sendable, Equatable {
    public var path: String
    public var bytes: Int64
    public var expiresAt: Double
    public var cost: Double

    public init(path: String, bytes: Int64, expiresAt: Double, cost: Double) {
        self.path = path
        self.bytes = bytes
        self.expiresAt = expiresAt
        self.cost = cost
    }
}
