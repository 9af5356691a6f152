/// Something that happens to a task (SPEC §3). The ``TaskLifecycle`` says from which states it
/// may happen and what follows; the store applies it only from those states.
public enum TaskEvent: Sendable, Equatable {
    /// A worker took the task from the queue.
    case claimed
    /// A worker took over a task whose lease had expired, in the state it was in.
    case resumed
    /// An upstream accepted the job; it is polled from now on, and billed.
    case submitted(provider: String, upstream: UpstreamJob, deadline: Double)
    /// A task that had been submitted before a restart goes back to polling its job.
    case resumedUpstream
    /// A provider failed before any job was billed, and the next route is tried.
    case fellBack(from: String, to: String, failure: String)
    /// Every provider for the task is full: it waits in the queue, the attempt given back.
    case waitingForCapacity(provider: String, retryAt: Double)
    /// A retryable fault: the task waits in the queue until `at`.
    case retryScheduled(at: Double, reason: String)
    /// The upstream job finished: its videos are fetched next.
    case upstreamFinished
    /// Every video is stored: deliveries start, or the task is done.
    case resultsStored(deliveries: [NewDelivery])
    /// The last delivery succeeded or gave up.
    case deliveriesSettled
    /// The task failed; `notify` is its `errors` webhook, if it has one.
    case failed(code: APIErrorCode, message: String, notify: NewDelivery?)
    /// Cancelled by request (`POST /v1/tasks/<id>/cancel`).
    case cancelled
}

/// What a worker does after a step.
public enum TaskAction: Sendable, Equatable {
    case submitUpstream
    case pollUpstream
    case fetchResults
    case deliverResults
    /// Give the provider's job slot back: the upstream job is over (or never started).
    case releaseJobSlot
    /// Tell the upstream to stop the job, where it can.
    case cancelUpstream
}
