import Domain
import Postgres
import Store
import Foundation

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

    let store: any TaskStore
    let media: MediaStore
    let router: ModelRouter
    let settings: Settings
    let logger: Logger
    let wake = WakeSignal()
    let owner: String
    /// Bytes of local media recorded (the disk budget's count); negative when bytes counted
    /// ahead of their record are given back because the record did not happen.
    let onStored: @Sendable (Int64) -> Void
    let onDeliveries: @Sendable () -> Void
    /// A task's results became final (stored, failed or cancelled): sessions waiting on it are
    /// pushed them.
    let onFinished: @Sendable (String) -> Void
    let gates: [String: ProviderGate]
    let metrics: Metrics?
    /// Names of the ops keys, whose tasks may use any key's stored media.
    let opsKeys: Set<String>

    init(store: any TaskStore, media: MediaStore, router: ModelRouter, settings: Settings, logger: Logger, gates: [String: ProviderGate] = [:],
         metrics: Metrics? = nil, opsKeys: Set<String> = [],
                onStored: @escaping @Sendable (Int64) -> Void = { _ in }, onDeliveries: @escaping @Sendable () -> Void = {},
                onFinished: @escaping @Sendable (String) -> Void = { _ in }) {
        self.onFinished = onFinished
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
            // Work that became due by the clock (retries, capacity waits, expired leases) is looked
            // for once per interval by whichever worker is idle, not by each of them.
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(self.settings.idlePollSeconds))
                    self.wake.signalIfWaiting()
                }
            }
        }
    }

    private func workerLoop(_ index: Int) async {
        let owner = "\(self.owner)-\(index)"
        while !Task.isCancelled {
            let claimed: TaskRecord?
            do {
                claimed = try await store.claim(owner: owner, leaseSeconds: settings.leaseSeconds)
            } catch StoreError.quarantined(let table, let id, let cause) {
                // A row the store could not read is set aside; a parked job's slot is freed.
                logger.error("a stored task could not be read and was set aside", ["table": table, "task": id, "error": "\(cause)"])
                if table == "tasks" { await taskEnded(id) }
                continue
            } catch {
                logger.error("claim failed", ["error": "\(error)"])
                await wake.wait(timeout: settings.idlePollSeconds)
                continue
            }
            guard let task = claimed else {
                // Idle workers wait for a signal: new work here or, through the store, on another
                // instance; a worker that found some; or the poll timer (``run()``). An idle
                // instance makes one claim per poll interval, not one per worker.
                await wake.wait(timeout: nil)
                continue
            }
            // Found work: one more worker looks too, and so on while there is some (a batch of
            // retries that came due together is drained by as many workers as it needs).
            wake.signal()
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
        let slot = JobSlot()
        // The heartbeat is a child task of the work: a lost lease (another worker took the task
        // over after a stall, or it was cancelled) cancels the work at once.
        let store = self.store, leaseSeconds = settings.leaseSeconds
        do {
            try await withLeaseHeartbeat(
                every: .seconds(leaseSeconds / 3), renew: { try await store.renewLease(task.uuid, owner: owner, leaseSeconds: leaseSeconds) }
            ) { [job] in
                try await self.drive(task, job: job, routes: routes, slot: slot, owner: owner, log: log)
            }
        } catch let error as LeaseLost {
            log.info("stopped: lease lost", ["reason": error.reason])
            await slot.leaseLost()
        } catch is CancellationError {
            // Shutdown: a job running upstream still runs; whoever resumes the task has its slot.
            await slot.leaseLost()
            try? await store.releaseLease(task.uuid, owner: owner)
        } catch let error as PostgresError where error.isRetryable {
            // The shared database was briefly unreachable (or chose this transaction to break a
            // deadlock): the task is fine where the store has it; its lease goes back (or, if
            // that fails too, expires) and a worker takes it up again.
            log.warning("stopped: the database is unavailable; the task will be resumed", ["error": "\(error)"])
            await slot.leaseLost()
            try? await store.releaseLease(task.uuid, owner: owner)
        } catch {
            // The detail is for the log; the task (and so its client and webhook) gets a stable message.
            log.error("processing failed", ["error": "\(error)"])
            _ = try? await fail(task, owner: owner, code: .internalError, message: Self.internalErrorMessage, log: log)
        }
        if !slot.isEmpty {
            await slot.release()
            wake.signal()  // a job slot came free: a task waiting for capacity can go
        }
    }

    /// What a task (its client, its webhook) is told when something inside failed: the detail
    /// goes to the log only.
    static let internalErrorMessage = "an internal error stopped the task; the gateway's log has the details"

    /// Frees the job slots of a task that ended outside a worker (ops cancel of a parked task).
    public func taskEnded(_ uuid: String) async {
        for gate in gates.values { await gate.releaseSlot(for: uuid) }
    }

    /// Carries out what the lifecycle says, action by action: a claimed task starts with the
    /// actions its state calls for (``TaskLifecycle/step(_:_:)`` of a resume: submit, poll, or
    /// poll then fetch), and each event this worker records adds the actions that follow it.
    /// A step that hands the task back (parked, retried, failed) ends the work with no actions.
    private func drive(_ original: TaskRecord, job original_job: ProviderJob, routes: [ModelRouter.Route], slot: JobSlot, owner: String, log: Logger)
        async throws
    {
        var task = original
        var job = original_job
        var provider = routes[0].provider
        var finished: (outputs: [String], cost: Double?)?
        var pending = TaskLifecycle.step(task.state, .resumed)?.actions ?? []
        while !pending.isEmpty {
            switch pending.removeFirst() {
            case .submitUpstream where task.upstreamID != nil:
                // Accepted upstream before a restart: that job is resumed, never submitted twice.
                pending = try await record(.resumedUpstream, task, owner: owner) + pending
                task.state = .running
            case .submitUpstream:
                guard let accepted = try await dispatch(task, job: &job, routes: routes, slot: slot, owner: owner, log: log) else { return }
                provider = accepted.route.provider
                task.state = .running
                task.upstreamID = accepted.upstream.stored
                task.deadlineAt = accepted.deadline
                pending = accepted.actions + pending
            case .pollUpstream:
                if let gate = gates[provider.name], task.state == .running, slot.isEmpty {
                    // A job resumed after a restart runs upstream whether counted or not: count it.
                    _ = try await gate.acquireSlot(for: task.uuid, force: true)
                    slot.hold(gate, task: task.uuid)
                }
                guard let upstream = task.upstream else {
                    // A stored handle that does not read would be resumed and refused forever.
                    log.error("the stored upstream job could not be read", ["state": task.state.rawValue])
                    try await fail(task, owner: owner, code: .internalError, message: Self.internalErrorMessage, log: log)
                    return
                }
                guard let outputs = try await pollUntilFinished(task, job: job, provider: provider, upstream: upstream, slot: slot, owner: owner, log: log)
                else { return }
                finished = outputs
                if task.state == .running {
                    pending = try await record(.upstreamFinished, task, owner: owner) + pending
                    task.state = .fetching
                }
            case .releaseJobSlot:
                if !slot.isEmpty {
                    await slot.release()  // the upstream job is done: its slot is free for the next
                    wake.signal()
                }
            case .fetchResults:
                guard let finished else { throw LifecycleGap(action: .fetchResults, state: task.state) }
                pending = try await fetchAndStore(task, job: job, provider: provider, outputs: finished.outputs, providerCost: finished.cost,
                                                  owner: owner, log: log) + pending
            case .deliverResults:
                onDeliveries()  // the delivery worker takes it from here
            case .cancelUpstream:
                if let upstream = task.upstream { await provider.cancel(upstream) }
            }
        }
    }

    /// An action came up before what it needs (a fetch without a finished poll): a bug in the
    /// lifecycle table, reported as an internal error of the task.
    struct LifecycleGap: Error, CustomStringConvertible {
        let action: TaskAction
        let state: TaskState
        var description: String { "the lifecycle asked for \(action) in \(state.rawValue) before it could be done" }
    }

    /// Applies a lifecycle event to the task this worker holds and returns what the lifecycle says
    /// follows; a refusal means the lease is gone.
    @discardableResult
    func record(_ event: TaskEvent, _ task: TaskRecord, owner: String, readying: [ReadyVideo] = []) async throws -> [TaskAction] {
        guard try await store.apply(event, to: task.uuid, owner: owner, readying: readying) else {
            throw LeaseLost(reason: "while recording \(TaskLifecycle.step(task.state, event)?.next.rawValue ?? "an event")")
        }
        // A task set to come due later wakes a worker here at that time: the idle poll is only
        // the fallback (for what another instance, or a crashed run, left due).
        switch event {
        case .retryScheduled(let at, _), .waitingForCapacity(_, let at): wake(at: at)
        default: break
        }
        return TaskLifecycle.step(task.state, event)?.actions ?? []
    }

    /// Signals a worker once the store's clock reaches `at`.
    func wake(at: Double) {
        let wake = self.wake
        DispatchQueue.global().asyncAfter(deadline: .now() + max(0, at - store.now)) { wake.signal() }
    }

    func handleProviderError(_ error: ProviderError, task: TaskRecord, owner: String, log: Logger) async throws {
        guard error.kind == .retryable, settings.retry.shouldRetry(attempt: task.attempts) else {
            try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
            return
        }
        let delay = settings.retry.delay(afterAttempt: task.attempts, hint: error.retryAfter, random: Double.random(in: 0..<1))
        log.warning("retrying later", ["error": error.message, "delaySeconds": String(format: "%.2f", delay)])
        try await record(.retryScheduled(at: store.now + delay, reason: error.message), task, owner: owner)
    }

    func recordCall(_ provider: String, _ operation: String, _ outcome: String, since started: Date) {
        metrics?.increment("reelgate_upstream_calls_total", [("provider", provider), ("operation", operation), ("outcome", outcome)])
        metrics?.observe("reelgate_upstream_call_seconds", [("provider", provider), ("operation", operation)], Date().timeIntervalSince(started))
    }

    /// Fails the task, with its `errors` webhook if it has one; false if the lease was lost.
    @discardableResult
    func fail(_ task: TaskRecord, owner: String, code: APIErrorCode, message: String, log: Logger) async throws -> Bool {
        // Stopping (shutdown, or a lost lease) aborts transfers, which surface as provider errors:
        // never a reason to fail the task. It goes back with its lease for the next run.
        try Task.checkCancellation()
        let webhookURL = (try? JSONParser.parse(task.requestJSON))?["webhookURL"]?.string
        let webhook = webhookURL.map { NewDelivery(videoUUID: nil, kind: .webhook, url: $0, messageID: "msg_\(task.uuid)_failed") }
        let recorded = try await store.apply(.failed(code: code, message: message, notify: webhook), to: task.uuid, owner: owner)
        if recorded { metrics?.observe("reelgate_task_seconds", [("model", task.model), ("outcome", "failed")], store.now - task.createdAt) }
        if recorded, webhook != nil { onDeliveries() }
        if recorded { onFinished(task.uuid) }
        // Whether the store took it: a refusal (the lease or state moved on) leaves the task as it was.
        log.warning("failed", ["code": code.name, "error": message, "recorded": recorded ? "yes" : "no: the store refused it"])
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
            owner.mayRead(mediaOf: source.apiKeyName), source.provider == provider, let upstream = source.upstream
        else { return nil }
        let ids = upstream.ids
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
