/// Holds a task's provider job slot while it runs upstream: released on every exit path,
/// except when the task is parked for its next poll, which keeps the slot, and when the lease
/// went to another worker, which holds it now.
///
/// Used by one worker's task at a time (the heartbeat child never touches it), hence unchecked.
final class JobSlot: @unchecked Sendable {
    private var gate: ProviderGate?
    private var task = ""
    var isEmpty: Bool { gate == nil }

    func hold(_ gate: ProviderGate, task: String) {
        self.gate = gate
        self.task = task
    }

    func release() async {
        guard let gate else { return }
        self.gate = nil
        await gate.releaseSlot(for: task)
    }

    /// The lease went to another worker (or the task ended elsewhere, or this instance stops):
    /// the slot is the task's, for whoever holds it next.
    func leaseLost() async {
        guard let gate else { return }
        self.gate = nil
        await gate.leaseLost(task)
    }

    /// Parked: the slot stays taken, but this worker no longer holds it.
    func keepForParkedTask() {
        gate?.parked(task)
        gate = nil
    }
}
