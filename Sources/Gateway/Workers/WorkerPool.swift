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

    public init(store: TaskStore, media: MediaStore, router: ModelRouter, settings: Settings, logger: Logger,
                onStored: @escaping @Sendable (Int64) -> Void = { _ in }, onDeliveries: @escaping @Sendable () -> Void = {}) {
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
            _ = try? await fail(task, owner: owner, code: "internalError", message: "stored request could not be read", log: log)
            return
        }
        guard let route = chooseRoute(task) else {
            _ = try? await fail(task, owner: owner, code: "unknownModel", message: "no provider routes \(task.model)", log: log)
            return
        }
        if let videoId = job.request.inputs.videoId {
            job.previousInteractionID = await previousInteraction(of: videoId, on: route.provider.name)
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

        do {
            try await drive(task, job: job, route: route, owner: owner, log: log)
        } catch let error as LeaseLost {
            log.info("stopped: lease lost", ["reason": error.reason])
        } catch is CancellationError {
            try? await store.releaseLease(task.uuid, owner: owner)
        } catch {
            log.error("processing failed", ["error": "\(error)"])
            _ = try? await fail(task, owner: owner, code: "internalError", message: "\(error)", log: log)
        }
    }

    struct LeaseLost: Error { let reason: String }

    private func drive(_ original: TaskRecord, job: ProviderJob, route: ModelRouter.Route, owner: String, log: Logger) async throws {
        var task = original
        let provider = route.provider
        let now = store.now

        if task.state == .dispatching {
            var upstreamID = task.upstreamID
            if upstreamID == nil {
                if task.attempts > 1 {
                    log.warning("resubmitting: the previous attempt may have reached the provider", ["attempt": "\(task.attempts)"])
                }
                do {
                    upstreamID = try await provider.submit(job)
                } catch {
                    try await handleProviderError(error, task: task, owner: owner, log: log)
                    return
                }
            }
            let deadline = task.deadlineAt ?? now + settings.deadlineSeconds
            guard try await store.update(
                task.uuid, owner: owner, to: .running, detail: "upstream \(provider.name) accepted \(upstreamID!)",
                fields: ["provider": provider.name, "upstream_id": upstreamID!, "dispatched_at": task.dispatchedAt ?? now, "deadline_at": deadline])
            else { throw LeaseLost(reason: "while recording submit") }
            task.state = .running
            task.upstreamID = upstreamID
            task.deadlineAt = deadline
            log.info("dispatched", ["provider": provider.name, "upstream": upstreamID!])
        }

        guard let upstreamID = task.upstreamID else {
            throw LeaseLost(reason: "no upstream id in state \(task.state.rawValue)")
        }

        // Poll until done (also on resume in `fetching`, which needs the outputs again).
        var outputs: [String] = []
        var lastProgress = -1
        while true {
            try Task.checkCancellation()
            if let deadline = task.deadlineAt, store.now > deadline {
                await provider.cancel(upstreamID: upstreamID)
                try await fail(task, owner: owner, code: "timeoutProvider", message: "the provider did not finish before the task deadline", log: log)
                return
            }
            let status: ProviderStatus
            do {
                status = try await provider.poll(upstreamID: upstreamID, job: job)
            } catch {
                if error.kind == .retryable {
                    log.warning("poll failed; will poll again", ["error": error.message])
                    try await Task.sleep(for: .seconds(max(provider.pollInterval, error.retryAfter ?? 0)))
                    continue
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
                try await Task.sleep(for: .seconds(provider.pollInterval))
                continue
            case .failed(let error):
                try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                return
            case .succeeded(let outs, _):
                outputs = outs
            }
            break
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
                try await fail(task, owner: owner, code: "internalError", message: "storing the video failed (errno \(errno))", log: log)
                return
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: final)[.size] as? Int64) ?? 0
            try await store.markResultReady(
                result.videoUUID, path: final, bytes: bytes, expiresAt: store.now + Double(request.ttl),
                cost: PriceTable.cost(model: task.model, seconds: request.duration))
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

    @discardableResult
    private func fail(_ task: TaskRecord, owner: String, code: String, message: String, log: Logger) async throws -> Bool {
        // A failed task still tells its webhook, with `{"errors":[…]}`.
        let webhookURL = (try? JSONParser.parse(task.requestJSON))?["webhookURL"]?.string
        let webhook = webhookURL.map { NewDelivery(videoUUID: nil, kind: .webhook, url: $0, messageID: "msg_\(task.uuid)_failed") }
        let recorded = try await store.failTask(task.uuid, owner: owner, code: code, message: message, webhook: webhook)
        if recorded, webhook != nil { onDeliveries() }
        log.warning("failed", ["code": code, "error": message])
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
            results: task.results.map { (videoUUID: $0.videoUUID, seed: $0.seed) })
    }

    /// Conversational editing (SPEC §9): the upstream interaction that produced `videoUUID`, when
    /// that was on `provider` (the upstream id lists one interaction per result, in order).
    /// Elsewhere there is no upstream state to continue, and the adapter works from the request.
    private func previousInteraction(of videoUUID: String, on provider: String) async -> String? {
        guard let (result, taskUUID) = try? await store.findResult(videoUUID), let source = try? await store.find(taskUUID),
            source.provider == provider, let upstream = source.upstreamID
        else { return nil }
        let ids = upstream.split(separator: ",").map(String.init)
        return ids.indices.contains(result.index) ? ids[result.index] : ids.last
    }

    /// The provider already used if there is one (resume), else the first route.
    private func chooseRoute(_ task: TaskRecord) -> ModelRouter.Route? {
        let routes = router.routes(for: task.model)
        if let used = task.provider { return routes.first { $0.provider.name == used } ?? routes.first }
        return routes.first
    }
}
