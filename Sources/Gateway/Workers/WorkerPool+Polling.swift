import Domain
import Foundation
import Store

/// Polling: following an upstream job between polls without holding a worker.
extension WorkerPool {
    /// Polls the job once it is due; the outputs when it finished, nil when the task was parked
    /// for its next poll (the worker is free meanwhile), retried, or failed.
    func pollUntilFinished(_ task: TaskRecord, job: ProviderJob, provider: any VideoProvider, upstream: UpstreamJob, slot: JobSlot, owner: String,
                           log: Logger) async throws -> (outputs: [String], cost: Double?)?
    {
        let gate = gates[provider.name]
        let pollDelay = task.pollInterval ?? provider.pollInterval
        // Polls back off from the provider's interval to six times it (Gemini: 5 s → 30 s).
        let nextDelay = min(pollDelay * 1.3, provider.pollInterval * 6)
        func park(after delay: Double, next: Double) async throws {
            guard task.state == .running else {
                // Only a running task parks; one resumed in `fetching` waits in the queue instead.
                try await record(.retryScheduled(at: store.now + delay, reason: "polling the finished job again"), task, owner: owner)
                return
            }
            guard try await store.park(task.uuid, owner: owner, until: store.now + delay, pollInterval: next)
            else { throw LeaseLost(reason: "while parking") }
            slot.keepForParkedTask()
            let wake = self.wake
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { wake.signal() }
        }
        try Task.checkCancellation()
        if let deadline = task.deadlineAt, store.now > deadline {
            await provider.cancel(upstream)
            try await fail(task, owner: owner, code: .timeoutProvider, message: "the provider did not finish before the task deadline", log: log)
            return nil
        }
        if let gate, !gate.allowCall() {
            try await park(after: max(provider.pollInterval, min(gate.retryAfter(), 30)), next: pollDelay)
            return nil
        }
        try await gate?.spend(provider.pollCalls(upstream))
        let status: ProviderStatus
        let started = Date()
        do {
            status = try await provider.poll(upstream, job: job)
            recordCall(provider.name, "poll", "ok", since: started)
            gate?.record(success: true)
        } catch {
            recordCall(provider.name, "poll", error.code.name, since: started)
            guard error.kind == .retryable else {
                try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                return nil
            }
            gate?.record(success: false)
            log.warning("poll failed; will poll again", ["error": error.message])
            try await park(after: max(pollDelay, error.retryAfter ?? 0), next: pollDelay)
            return nil
        }
        switch status {
        case .running(let progress):
            if progress > (task.results.map(\.progress).min() ?? 0) {
                try await store.setProgress(task.uuid, owner: owner, progress: progress)
            }
            try await park(after: pollDelay, next: nextDelay)
            return nil
        case .failed(let error):
            try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
            return nil
        case .succeeded(let outputs, let cost):
            return (outputs, cost)
        }
    }
}
