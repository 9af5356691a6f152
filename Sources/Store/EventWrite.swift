import Domain

/// What applying a worker's lifecycle event writes, decided once for every backend: the next
/// state and the states it may come from (``TaskLifecycle``), the columns the event sets, whether
/// the lease goes, and the side rows written in the same transaction. A backend renders it in its
/// SQL, checking owner and predecessor states in the statement that writes.
public struct EventWrite: Sendable {
    public enum Value: Sendable {
        case text(String)
        case real(Double)
    }

    public enum Assignment: Sendable {
        /// `column = value`
        case set(String, Value)
        /// `column = coalesce(column, value)`: kept if already set.
        case keepOrSet(String, Value)
        /// `attempts = greatest(attempts - 1, 0)`: a wait for capacity is not an attempt.
        case refundAttempt
    }

    public let next: TaskState
    public let predecessors: [TaskState]
    /// The event log line, if the event has one.
    public let detail: String?
    public let assignments: [Assignment]
    /// Leaving the worker's hands (back to the queue, delivering, or final): the lease goes.
    public var releasesLease: Bool { next == .queued || next == .delivering || next.isTerminal }
    /// Whether the step must be on disk before the worker goes on. A billed upstream job must
    /// (lost to a power cut, the task would be submitted and paid for again), as must what
    /// changes a client's answer for good (a failure) and the rarer steps. The steps of a task
    /// that goes well are redone safely if lost: a finished job is polled and fetched again, a
    /// stored video fetched again, and results are delivered at least once anyway.
    public var mustBeSynced: Bool {
        switch event {
        case .resumedUpstream, .upstreamFinished, .resultsStored: false
        default: true
        }
    }
    let event: TaskEvent

    /// Refuses the events that have methods of their own (claims, cancels, the last delivery).
    public init(_ event: TaskEvent, now: Double) throws {
        switch event {
        case .claimed, .resumed, .cancelled, .deliveriesSettled: throw StoreError.notAWorkerEvent("\(event)")
        default: break
        }
        self.event = event
        predecessors = TaskLifecycle.predecessors(of: event)
        let targets = Set(predecessors.compactMap { TaskLifecycle.step($0, event)?.next })
        guard let next = targets.first, targets.count == 1 else { throw StoreError.notAWorkerEvent("\(event)") }
        self.next = next
        detail = TaskLifecycle.step(predecessors[0], event)?.detail
        switch event {
        case .submitted(let provider, let upstream, let deadline):
            assignments = [.set("provider", .text(provider)), .set("upstream_id", .text(upstream.stored)),
                           .keepOrSet("dispatched_at", .real(now)), .set("deadline_at", .real(deadline))]
        case .waitingForCapacity(_, let retryAt):
            assignments = [.set("next_attempt_at", .real(retryAt)), .refundAttempt]
        case .retryScheduled(let at, _):
            assignments = [.set("next_attempt_at", .real(at))]
        case .failed(let code, let message, _):
            assignments = [.set("error_code", .text(code.name)), .set("error_message", .text(message))]
        default:
            assignments = []
        }
    }

    /// Writes the side rows of an event that was applied: videos stored with it, deliveries,
    /// failed results, the log line, the key's in-flight count. A video whose result is not the
    /// task's pending one throws (the transaction rolls back).
    public func writeSideRows(of uuid: String, at now: Double, readying: [ReadyVideo] = [], with rows: some LifecycleRowWriter) throws {
        for video in readying where try !rows.markResultReady(uuid, video, now) {
            throw StoreError.resultNotPending(video: video.videoUUID, task: uuid)
        }
        switch event {
        case .resultsStored(let deliveries):
            try rows.insertDeliveries(uuid, deliveries, now)
        case .failed(let code, let message, let notify):
            try rows.failPendingResults(uuid, code: code.name, message: message)
            try rows.insertDeliveries(uuid, notify.map { [$0] } ?? [], now)
        default:
            break
        }
        if let detail { try rows.appendEvent(uuid, now, next, detail) }
        if next.isTerminal { try rows.taskEnded(uuid) }
    }
}

/// The row writes of a lifecycle event a backend provides, inside the event's transaction.
public protocol LifecycleRowWriter {
    /// Records a stored video for one of the task's pending results; false if there is none.
    func markResultReady(_ uuid: String, _ video: ReadyVideo, _ now: Double) throws -> Bool
    func insertDeliveries(_ uuid: String, _ deliveries: [NewDelivery], _ now: Double) throws
    func failPendingResults(_ uuid: String, code: String, message: String) throws
    func appendEvent(_ uuid: String, _ at: Double, _ state: TaskState, _ detail: String?) throws
    /// One fewer unfinished task for the task's key.
    func taskEnded(_ uuid: String) throws
}
