import Domain
import Foundation
import Store

/// Dispatch: submitting a task upstream, and where a fallback to the next route is decided.
extension WorkerPool {
    struct Accepted {
        let route: ModelRouter.Route
        let upstream: UpstreamJob
        let deadline: Double
        /// What the lifecycle says follows the acceptance.
        let actions: [TaskAction]
    }

    /// Submits to the model's routes in order and records the first acceptance; nil when the task
    /// was handled otherwise (it waits for capacity, is retried later, or failed).
    ///
    /// The next route is tried only after a retryable failure here, before any upstream accepted
    /// (and billed) the job, and that fallback is written to the task's event log with the failure
    /// that caused it before the next provider is called. A full provider is waited for, not skipped.
    func dispatch(_ task: TaskRecord, job: inout ProviderJob, routes: [ModelRouter.Route], slot: JobSlot, owner: String, log: Logger)
        async throws -> Accepted?
    {
        if task.attempts > 1 {
            log.warning("resubmitting: the previous attempt may have reached the provider", ["attempt": "\(task.attempts)"])
        }
        var lastError: ProviderError?
        var lastFailed: String?
        for (index, candidate) in routes.enumerated() {
            let name = candidate.provider.name
            let gate = gates[name]
            if let gate, !gate.allowCall() {
                lastError = .retryable("\(name): circuit open after repeated failures", retryAfter: gate.retryAfter())
                lastFailed = name
                continue
            }
            if let gate, try await !gate.acquireSlot(for: task.uuid) {
                if index == 0 || lastError == nil {
                    log.debug("waiting for provider capacity", ["provider": name])
                    try await record(.waitingForCapacity(provider: name, retryAt: store.now + 1), task, owner: owner)
                    // Do not claim again at once, nor on the next new-work wake-up: the next queued
                    // task would most likely meet the same full provider, and the queue would
                    // churn (two writes per claim) at the rate tasks arrive.
                    try? await Task.sleep(for: .milliseconds(250))
                    return nil
                }
                continue
            }
            if let gate { slot.hold(gate, task: task.uuid) }
            if let lastFailed, let lastError {
                try await record(.fellBack(from: lastFailed, to: name, failure: lastError.message), task, owner: owner)
                log.warning("falling back", ["from": lastFailed, "to": name, "error": lastError.message])
            }
            job.upstreamModel = candidate.upstreamModel
            do {
                try await gate?.spend(max(job.results.count, 1))
                let started = Date()
                let upstream: UpstreamJob
                do {
                    upstream = try await candidate.provider.submit(job)
                    recordCall(name, "submit", "ok", since: started)
                } catch {
                    recordCall(name, "submit", error.code.name, since: started)
                    throw error
                }
                gate?.record(success: true)
                let deadline = task.deadlineAt ?? store.now + settings.deadlineSeconds
                let actions: [TaskAction]
                do {
                    actions = try await record(.submitted(provider: name, upstream: upstream, deadline: deadline), task, owner: owner)
                } catch {
                    // Accepted upstream but not recorded (the lease went meanwhile): nothing will
                    // ever poll this job, and the next worker submits anew, so stop it if we can.
                    await candidate.provider.cancel(upstream)
                    throw error
                }
                log.info("dispatched", ["provider": name, "upstream": upstream.displayID])
                return Accepted(route: candidate, upstream: upstream, deadline: deadline, actions: actions)
            } catch let error as ProviderError {
                await slot.release()
                guard error.kind == .retryable else {
                    try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                    return nil
                }
                gate?.record(success: false)
                lastError = error
                lastFailed = name
            }
        }
        try await handleProviderError(lastError ?? .retryable("no provider available"), task: task, owner: owner, log: log)
        return nil
    }
}
