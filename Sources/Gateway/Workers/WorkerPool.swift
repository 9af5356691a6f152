import Domain
import Foundation
import SQLite

/// Runs tasks: claims them under a lease, drives them through the provider, stores the videos.
///
/// Each step is written before the next is taken, and each claim resumes from the stored state:
/// `dispatching` with no upstream id submits; with one, it polls (never paying twice);
/// `running` polls; `fetching` downloads the results not yet stored. A worker that dies leaves
/// its lease to expire, and another worker picks the task up where the store says it was.
public final class WorkerPool: Sendable {
    public struct Settings: Sendable {
        public var workers = 8
        public var leaseSeconds = 30.0
        public var idlePollSeconds = 0.5
        /// How long after dispatch a task may run before it fails with `timeoutProvider`.
        public var deadlineSeconds = 30.0 * 60
        public var retry = RetryPolicy()
        public init() {}
    }

    let store: TaskStore
    let media: MediaStore
    let router: ModelRouter
    let settings: Settings
    let logger: Logger
    let wake = WakeSignal()
    let owner: String
    let onStored: @Sendable (Int64) -> Void
    let onDeliveries: @Sendable () -> Void
    let gates: [String: ProviderGate]
    let metrics: Metrics?
    /// Names of the ops keys, whose tasks may use any key's stored media.
    let opsKeys: Set<String>

    init(store: TaskStore, media: MediaStore, router: ModelRouter, settings: Settings, logger: Logger, gates: [String: ProviderGate] = [:],
         metrics: Metrics? = nil, opsKeys: Set<String> = [],
                onStored: @escaping @Sendable (Int64) -> Void = { _ in }, onDeliveries: @escaping @Sendable () -> Void = {}) {
        self.opsKeys = opsKeys
        self.gates = gates
        self.metrics = metrics
        self.onStored = onStored
        self.onDeliveries = onDeliveries
        self.store = store
        self.media = media
        self.router = router
        self.settings = settings
        self.logger = logger
        owner = "worker-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    /// Wakes idle workers: called after tasks are accepted.
    public func notifyNewWork(count: Int) { wake.signal(count: min(count, settings.workers)) }

    /// Runs the workers until the surrounding task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for index in 0..<settings.workers {
                group.addTask { await self.workerLoop(index) }
            }
        }
    }

    private func workerLoop(_ index: Int) async {
        let owner = "\(self.owner)-\(index)"
        while !Task.isCancelled {
            let claimed: TaskRecord?
            do {
                claimed = try await store.claim(owner: owner, leaseSeconds: settings.leaseSeconds)
            } catch {
                logger.error("claim failed", ["error": "\(error)"])
                await wake.wait(timeout: settings.idlePollSeconds)
                continue
            }
            guard let task = claimed else {
                await wake.wait(timeout: settings.idlePollSeconds)
                continue
            }
            await process(task, owner: owner)
        }
    }

    // MARK: One task

    private func process(_ task: TaskRecord, owner: String) async {
        let log = logger.with(["task": task.uuid, "model": task.model])
        guard var job = makeJob(task) else {
            _ = try? await fail(task, owner: owner, code: .internalError, message: "stored request could not be read", log: log)
            return
        }
        let routes = candidateRoutes(task)
        guard let route = routes.first else {
            _ = try? await fail(task, owner: owner, code: .unknownModel, message: "no provider routes \(task.model)", log: log)
            return
        }
        if let videoId = job.request.inputs.videoId {
            job.previousInteractionID = await previousInteraction(of: videoId, on: route.provider.name, owner: job.mediaOwner)
        }
        // The heartbeat keeps the lease while this worker is alive; losing it (cancel, or a
        // stall long enough for another worker to take over) stops this worker's processing.
        let heartbeat = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(settings.leaseSeconds / 3))
                if try await !store.renewLease(task.uuid, owner: owner, leaseSeconds: settings.leaseSeconds) { return }
            }
        }
        defer { heartbeat.cancel() }
        let slot = SlotHolder()
        defer {
            if !slot.isEmpty {
                slot.release()
                wake.signal()  // a job slot came free: a task waiting for capacity can go
            }
        }

        do {
            try await drive(task, job: job, routes: routes, slot: slot, owner: owner, log: log)
        } catch let error as LeaseLost {
            log.info("stopped: lease lost", ["reason": error.reason])
        } catch is CancellationError {
            try? await store.releaseLease(task.uuid, owner: owner)
        } catch {
            log.error("processing failed", ["error": "\(error)"])
            // The detail is for the log; the task (and so its client and webhook) gets a stable message.
            log.error("processing failed", ["error": "\(error)"])
            _ = try? await fail(task, owner: owner, code: .internalError, message: "an internal error stopped the task; the gateway's log has the details", log: log)
        }
    }

    /// Holds a task's provider job slot while it runs upstream: released on every exit path,
    /// except when the task is parked for its next poll, which keeps the slot.
    final class SlotHolder: @unchecked Sendable {
        private var gate: ProviderGate?
        private var task = ""
        var isEmpty: Bool { gate == nil }
        func hold(_ gate: ProviderGate, task: String) {
            self.gate = gate
            self.task = task
        }
        func release() {
            gate?.releaseSlot(for: task)
            gate = nil
        }
        /// Parked: the slot stays taken, but this worker no longer holds it.
        func keepForParkedTask() { gate = nil }
    }

    /// Frees the job slots of a task that ended outside a worker (ops cancel of a parked task).
    public func taskEnded(_ uuid: String) {
        for gate in gates.values { gate.releaseSlot(for: uuid) }
    }

    private func drive(_ original: TaskRecord, job original_job: ProviderJob, routes: [ModelRouter.Route], slot: SlotHolder, owner: String, log: Logger)
        async throws
    {
        var task = original
        var job = original_job
        var route = routes[0]
        let now = store.now

        if task.state == .dispatching, task.upstreamID == nil {
            if task.attempts > 1 {
                log.warning("resubmitting: the previous attempt may have reached the provider", ["attempt": "\(task.attempts)"])
            }
            // Routes in order. The next is tried only after a retryable failure here, before any
            // upstream accepted (and billed) the job; a full provider is waited for, not skipped.
            var lastError: ProviderError?
            var upstreamID: String?
            for (index, candidate) in routes.enumerated() {
                let gate = gates[candidate.provider.name]
                if let gate, !gate.allowCall() {
                    lastError = .retryable("\(candidate.provider.name): circuit open after repeated failures", retryAfter: gate.retryAfter())
                    continue
                }
                if let gate, !gate.acquireSlot(for: task.uuid) {
                    if index == 0 || lastError == nil {
                        log.debug("waiting for provider capacity", ["provider": candidate.provider.name])
                        guard try await store.requeue(task.uuid, owner: owner, at: store.now + 1, reason: "waiting for \(candidate.provider.name) capacity",
                                                      refund: true)
                        else { throw LeaseLost(reason: "while waiting for capacity") }
                        // Do not claim again at once, nor on the next new-work wake-up: the next
                        // queued task would most likely meet the same full provider, and the queue
                        // would churn (two writes per claim) at the rate tasks arrive.
                        try? await Task.sleep(for: .milliseconds(250))
                        return
                    }
                    continue
                }
                if let gate { slot.hold(gate, task: task.uuid) }
                job.upstreamModel = candidate.upstreamModel
                do {
                    try await gate?.spend(max(job.results.count, 1))
                    let started = Date()
                    do {
                        upstreamID = try await candidate.provider.submit(job)
                        recordCall(candidate.provider.name, "submit", "ok", since: started)
                    } catch {
                        recordCall(candidate.provider.name, "submit", error.code.name, since: started)
                        throw error
                    }
                    gate?.record(success: true)
                    route = candidate
                    if index > 0 { log.warning("served by a fallback route", ["provider": candidate.provider.name, "after": lastError?.message ?? ""]) }
                    break
                } catch let error as ProviderError {
                    slot.release()
                    guard error.kind == .retryable else {
                        try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                        return
                    }
                    gate?.record(success: false)
                    lastError = error
                    if index + 1 < routes.count {
                        log.warning("falling back", ["provider": candidate.provider.name, "error": error.message])
                    }
                }
            }
            guard let upstreamID else {
                try await handleProviderError(lastError ?? .retryable("no provider available"), task: task, owner: owner, log: log)
                return
            }
            let deadline = task.deadlineAt ?? now + settings.deadlineSeconds
            guard try await store.update(
                task.uuid, owner: owner, to: .running, detail: "upstream \(route.provider.name) accepted \(upstreamID)",
                fields: ["provider": route.provider.name, "upstream_id": upstreamID, "dispatched_at": task.dispatchedAt ?? now, "deadline_at": deadline])
            else { throw LeaseLost(reason: "while recording submit") }
            task.state = .running
            task.upstreamID = upstreamID
            task.deadlineAt = deadline
            log.info("dispatched", ["provider": route.provider.name, "upstream": upstreamID])
        } else if task.state == .dispatching {
            guard try await store.update(task.uuid, owner: owner, to: .running, detail: "resuming the stored upstream job")
            else { throw LeaseLost(reason: "while resuming") }
            task.state = .running
        }
        let provider = route.provider
        let gate = gates[provider.name]
        if let gate, task.state == .running, slot.isEmpty {
            // A job resumed after a restart runs upstream whether counted or not: count it.
            _ = gate.acquireSlot(for: task.uuid, force: true)
            slot.hold(gate, task: task.uuid)
        }

        guard let upstreamID = task.upstreamID else {
            throw LeaseLost(reason: "no upstream id in state \(task.state.rawValue)")
        }

        // Poll until done (also on resume in `fetching`, which needs the outputs again).
        var outputs: [String] = []
        var providerCost: Double?
        var lastProgress = -1
        let pollDelay = task.pollInterval ?? provider.pollInterval
        let nextDelay = min(pollDelay * 1.3, provider.pollInterval * 6)
        /// Parks the task until its next poll: the worker is free for other tasks meanwhile.
        func park(after delay: Double, next: Double) async throws {
            let at = store.now + delay
            guard try await store.park(task.uuid, owner: owner, until: at, pollInterval: next)
            else { throw LeaseLost(reason: "while parking") }
            slot.keepForParkedTask()
            let wake = self.wake
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { wake.signal() }
        }
        while true {
            try Task.checkCancellation()
            if let deadline = task.deadlineAt, store.now > deadline {
                await provider.cancel(upstreamID: upstreamID)
                try await fail(task, owner: owner, code: .timeoutProvider, message: "the provider did not finish before the task deadline", log: log)
                return
            }
            if let gate, !gate.allowCall() {
                try await park(after: max(provider.pollInterval, min(gate.retryAfter(), 30)), next: pollDelay)
                return
            }
            try await gate?.spend(provider.pollCalls(upstreamID: upstreamID))
            let status: ProviderStatus
            let pollStarted = Date()
            do {
                status = try await provider.poll(upstreamID: upstreamID, job: job)
                recordCall(provider.name, "poll", "ok", since: pollStarted)
                gate?.record(success: true)
            } catch {
                recordCall(provider.name, "poll", error.code.name, since: pollStarted)
                if error.kind == .retryable { gate?.record(success: false) }
                if error.kind == .retryable {
                    log.warning("poll failed; will poll again", ["error": error.message])
                    try await park(after: max(pollDelay, error.retryAfter ?? 0), next: pollDelay)
                    return
                }
                try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                return
            }
            switch status {
            case .running(let progress):
                if progress > lastProgress {
                    lastProgress = progress
                    try await store.setProgress(task.uuid, progress: progress)
                }
                // Polls back off from the provider's interval to six times it (Gemini: 5 s → 30 s).
                try await park(after: pollDelay, next: nextDelay)
                return
            case .failed(let error):
                try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                return
            case .succeeded(let outs, let cost):
                outputs = outs
                providerCost = cost
            }
            break
        }

        if !slot.isEmpty {
            slot.release()  // the upstream job is done: its slot is free for the next
            wake.signal()
        }
        if task.state == .running {
            guard try await store.update(task.uuid, owner: owner, to: .fetching, detail: "upstream finished")
            else { throw LeaseLost(reason: "while recording finish") }
            task.state = .fetching
        }

        // Fetch each result not yet stored: to a temporary file, fsynced, renamed into place,
        // then recorded. A crash between rename and record just fetches it again.
        let request = job.request
        let ext = request.outputFormat.fileExtension
        for (result, output) in zip(task.results, outputs) where result.state == .pending {
            let temporary = media.temporaryPath(videoUUID: result.videoUUID)
            let final = media.path(videoUUID: result.videoUUID, ext: ext)
            do {
                try await provider.fetch(output: output, job: job, to: temporary)
            } catch {
                try? FileManager.default.removeItem(atPath: temporary)
                if error.kind == .retryable {
                    try await handleProviderError(error, task: task, owner: owner, log: log)
                    return
                }
                try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                return
            }
            guard rename(temporary, final) == 0 else {
                log.error("storing a video failed", ["errno": "\(errno)", "path": final])
                try await fail(task, owner: owner, code: .internalError, message: "storing the video failed", log: log)
                return
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: final)[.size] as? Int64) ?? 0
            guard try await store.markResultReady(
                result.videoUUID, owner: owner, path: final, bytes: bytes, expiresAt: store.now + Double(request.ttl),
                // The provider's own cost when it reports one (split over the results), else the price table.
                cost: providerCost.map { $0 / Double(max(outputs.count, 1)) } ?? PriceTable.cost(model: task.model, seconds: request.duration))
            else { throw LeaseLost(reason: "while storing a result") }
            onStored(bytes)
        }

        // Upload before webhook for each result (SPEC §6); the delivery worker takes it from here.
        var deliveries: [NewDelivery] = []
        for result in task.results {
            if let url = request.uploadEndpoint {
                deliveries.append(NewDelivery(videoUUID: result.videoUUID, kind: .upload, url: url, messageID: "upload_\(result.videoUUID)"))
            }
            if let url = request.webhookURL {
                deliveries.append(NewDelivery(videoUUID: result.videoUUID, kind: .webhook, url: url, messageID: "msg_\(result.videoUUID)"))
            }
        }
        guard try await store.finishFetching(task.uuid, owner: owner, deliveries: deliveries)
        else { throw LeaseLost(reason: "while recording success") }
        if !deliveries.isEmpty { onDeliveries() }
        metrics?.observe("reelgate_task_seconds", [("model", task.model), ("outcome", "succeeded")], store.now - task.createdAt)
        log.info(deliveries.isEmpty ? "succeeded" : "stored; delivering", ["results": "\(task.results.count)"])
    }

    private func handleProviderError(_ error: ProviderError, task: TaskRecord, owner: String, log: Logger) async throws {
        guard error.kind == .retryable, settings.retry.shouldRetry(attempt: task.attempts) else {
            try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
            return
        }
        let delay = settings.retry.delay(afterAttempt: task.attempts, hint: error.retryAfter, random: Double.random(in: 0..<1))
        log.warning("retrying later", ["error": error.message, "delaySeconds": String(format: "%.2f", delay)])
        guard try await store.requeue(task.uuid, owner: owner, at: store.now + delay, reason: "retryable: \(error.message)")
        else { throw LeaseLost(reason: "while requeueing") }
    }

    private func recordCall(_ provider: String, _ operation: String, _ outcome: String, since started: Date) {
        metrics?.increment("reelgate_upstream_calls_total", [("provider", provider), ("operation", operation), ("outcome", outcome)])
        metrics?.observe("reelgate_upstream_call_seconds", [("provider", provider), ("operation", operation)], Date().timeIntervalSince(started))
    }

    @discardableResult
    private func fail(_ task: TaskRecord, owner: String, code: APIErrorCode, message: String, log: Logger) async throws -> Bool {
        // A failed task still tells its webhook, with `{"errors":[…]}`.
        let webhookURL = (try? JSONParser.parse(task.requestJSON))?["webhookURL"]?.string
        let webhook = webhookURL.map { NewDelivery(videoUUID: nil, kind: .webhook, url: $0, messageID: "msg_\(task.uuid)_failed") }
        let recorded = try await store.failTask(task.uuid, owner: owner, code: code.name, message: message, webhook: webhook)
        if recorded { metrics?.observe("reelgate_task_seconds", [("model", task.model), ("outcome", "failed")], store.now - task.createdAt) }
        if recorded, webhook != nil { onDeliveries() }
        log.warning("failed", ["code": code.name, "error": message])
        return recorded
    }

    // MARK: Helpers

    private func makeJob(_ task: TaskRecord) -> ProviderJob? {
        guard let object = (try? JSONParser.parse(task.requestJSON))?.object else { return nil }
        let validator = VideoInferenceValidator(knownModels: nil, checkURL: { _, _ in nil })
        guard case .success(let request) = validator.validate(object) else { return nil }
        let upstreamModel = chooseRoute(task)?.upstreamModel ?? ""
        return ProviderJob(
            taskUUID: task.uuid, request: request, upstreamModel: upstreamModel,
            results: task.results.map { (videoUUID: $0.videoUUID, seed: $0.seed) },
            mediaOwner: opsKeys.contains(task.apiKeyName) ? .anyone : .key(task.apiKeyName))
    }

    /// Conversational editing (SPEC §9): the upstream interaction that produced `videoUUID`, when
    /// that was on `provider` (the upstream id lists one interaction per result, in order).
    /// Elsewhere there is no upstream state to continue, and the adapter works from the request.
    private func previousInteraction(of videoUUID: String, on provider: String, owner: MediaOwner) async -> String? {
        guard let (result, taskUUID) = try? await store.findResult(videoUUID), let source = try? await store.find(taskUUID),
            owner.mayRead(mediaOf: source.apiKeyName), source.provider == provider, let upstream = source.upstreamID
        else { return nil }
        let ids = UpstreamJobList.ids(upstream)
        return ids.indices.contains(result.index) ? ids[result.index] : ids.last
    }

    /// The routes to try: only the provider already used when a job was stored upstream (it is
    /// billed there), else every route of the model in order.
    private func candidateRoutes(_ task: TaskRecord) -> [ModelRouter.Route] {
        let routes = router.routes(for: task.model)
        if let used = task.provider, task.upstreamID != nil {
            // Resume there or nowhere: another provider knows nothing of that job.
            return routes.first { $0.provider.name == used }.map { [$0] } ?? []
        }
        return routes
    }

    /// The provider already used if there is one (resume), else the first route.
    private func chooseRoute(_ task: TaskRecord) -> ModelRouter.Route? {
        let routes = router.routes(for: task.model)
        if let used = task.provider { return routes.first { $0.provider.name == used } ?? routes.first }
        return routes.first
    }
}
