/// The task lifecycle of SPEC §3 as a pure step function: state + event → next state + actions.
///
/// `queued → dispatching → running → fetching → delivering → succeeded`; `failed` from the
/// states a worker holds, `cancelled` from any state that is not final, and back to `queued`
/// for a retry or a full provider. Everything that changes a task's state goes through
/// ``step(_:_:)``, and the store applies an event only `WHERE state IN` its predecessors, so a
/// stale worker (or a race with cancel) can never move a task where the lifecycle does not go.
public enum TaskLifecycle {
    public struct Step: Sendable, Equatable {
        public let next: TaskState
        public let actions: [TaskAction]
        /// The event log's line, or nil when the step is routine (a capacity wait).
        public let detail: String?
    }

    /// What `event` does to a task in `state`; nil when it cannot happen there.
    public static func step(_ state: TaskState, _ event: TaskEvent) -> Step? {
        switch (state, event) {
        case (.queued, .claimed):
            return Step(next: .dispatching, actions: [.submitUpstream], detail: "claimed")
        case (.dispatching, .resumed):
            return Step(next: .dispatching, actions: [.submitUpstream], detail: "lease expired; resumed")
        case (.running, .resumed):
            return Step(next: .running, actions: [.pollUpstream], detail: "lease expired; resumed")
        case (.fetching, .resumed):
            return Step(next: .fetching, actions: [.pollUpstream, .fetchResults], detail: "lease expired; resumed")
        case (.dispatching, .submitted(let provider, let upstream, _)):
            return Step(next: .running, actions: [.pollUpstream], detail: "upstream \(provider) accepted \(upstream.displayID)")
        case (.dispatching, .resumedUpstream):
            return Step(next: .running, actions: [.pollUpstream], detail: "resuming the stored upstream job")
        case (.dispatching, .fellBack(let from, let to, let failure)):
            return Step(next: .dispatching, actions: [.submitUpstream], detail: "fell back from \(from) to \(to) after: \(failure)")
        case (.dispatching, .waitingForCapacity):
            return Step(next: .queued, actions: [], detail: nil)
        case (.dispatching, .retryScheduled(_, let reason)), (.running, .retryScheduled(_, let reason)),
            (.fetching, .retryScheduled(_, let reason)):
            return Step(next: .queued, actions: [.releaseJobSlot], detail: "retryable: \(reason)")
        case (.running, .upstreamFinished):
            return Step(next: .fetching, actions: [.releaseJobSlot, .fetchResults], detail: "upstream finished")
        case (.fetching, .resultsStored(let deliveries)):
            return deliveries.isEmpty
                ? Step(next: .succeeded, actions: [], detail: "results stored")
                : Step(next: .delivering, actions: [.deliverResults], detail: "results stored; \(deliveries.count) deliveries")
        case (.delivering, .deliveriesSettled):
            return Step(next: .succeeded, actions: [], detail: "deliveries settled")
        case (.dispatching, .failed(let code, let message, _)), (.running, .failed(let code, let message, _)),
            (.fetching, .failed(let code, let message, _)):
            return Step(next: .failed, actions: [.releaseJobSlot], detail: "\(code.name): \(message)")
        case (let state, .cancelled) where !state.isTerminal:
            let upstream: [TaskAction] = state == .running || state == .dispatching ? [.cancelUpstream] : []
            return Step(next: .cancelled, actions: upstream + [.releaseJobSlot], detail: "cancelled by request")
        default:
            return nil
        }
    }

    /// The states `event` may happen in: the store's `WHERE state IN (…)`.
    public static func predecessors(of event: TaskEvent) -> [TaskState] {
        TaskState.allCases.filter { step($0, event) != nil }
    }
}
