import Domain
import Store

/// Cancels a task the way the lifecycle says (SPEC §4): locally at once, upstream where the
/// provider can, its job slot given back. Shared by the ops API and the OpenAI API's delete.
struct TaskCanceller: Sendable {
    let store: any TaskStore
    let router: ModelRouter
    let workers: WorkerPool

    /// The task after cancelling (unchanged if it had ended); nil if there is no such task.
    func cancel(_ uuid: String) async throws -> TaskRecord? {
        guard let before = try await store.cancel(uuid) else { return nil }
        // What the lifecycle says cancelling does from where the task was (nothing once it ended).
        let actions = TaskLifecycle.step(before.state, .cancelled)?.actions ?? []
        if actions.contains(.cancelUpstream), let upstream = before.upstream, let name = before.provider, let provider = router.provider(named: name) {
            await provider.cancel(upstream)
        }
        if actions.contains(.releaseJobSlot) { await workers.taskEnded(uuid) }  // a parked job's slot is held by no worker
        let now = try await store.find(uuid) ?? before
        if !before.state.resultsAreFinal, now.state.resultsAreFinal { workers.onFinished(uuid) }
        return now
    }
}
