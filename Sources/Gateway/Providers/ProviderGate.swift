import Domain
import Store
import Foundation
import Synchronization

/// One provider's limits, shared by every worker: job slots, the request budget and the breaker.
///
/// Alone on its database, an instance keeps slots and budget in memory. With a store several
/// instances share (``ProviderQuotaStore``) both live in the database, since the upstream quota
/// belongs to the key; the breaker stays per instance (it is about what this one sees).
final class ProviderGate: Sendable {
    let name: String
    let maxConcurrent: Int
    let requestsPerMinute: Int
    /// The tasks holding a job slot here: a set of task ids, so a parked job keeps its slot and a
    /// slot can be reconciled with the store. With a shared store, the ones this instance took
    /// (the database has every instance's).
    private let slots = Mutex<Set<String>>([])
    private let bucket: Mutex<TokenBucket>
    private let shared: (any ProviderQuotaStore)?
    /// One request's share of a minute, and one second's worth of burst, in seconds of schedule.
    private let requestCost: Double
    private let burstTolerance: Double
    private let breaker: Mutex<CircuitBreaker>
    private let clock: @Sendable () -> Double

    let metrics: Metrics?

    init(name: String, limits: Configuration.ProviderLimits, metrics: Metrics? = nil,
         shared: (any ProviderQuotaStore)? = nil, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.name = name
        self.shared = shared
        self.metrics = metrics
        maxConcurrent = max(limits.maxConcurrent, 1)
        requestsPerMinute = limits.requestsPerMinute
        // One second's worth of burst: no window of W seconds ever sees more than RPM/60 × (W + 1)
        // requests (a minute-sized bucket would allow twice the RPM within one minute).
        let perSecond = Double(max(limits.requestsPerMinute, 1)) / 60
        bucket = Mutex(TokenBucket(capacity: max(perSecond, 1), period: max(perSecond, 1) / perSecond, now: clock()))
        requestCost = 1 / perSecond
        burstTolerance = max(perSecond, 1) / perSecond
        breaker = Mutex(CircuitBreaker(threshold: limits.breakerThreshold, cooldown: limits.breakerCooldownSeconds))
        self.clock = clock
    }

    /// A job slot for `task`, if one is free (or it already has one); `force` takes one anyway
    /// (a job already running upstream is running whether we count it or not).
    func acquireSlot(for task: String, force: Bool = false) async throws -> Bool {
        if let shared {
            guard try await shared.takeProviderSlot(provider: name, task: task, limit: maxConcurrent, force: force) else { return false }
            _ = slots.withLock { $0.insert(task) }
            return true
        }
        return slots.withLock { used in
            if used.contains(task) { return true }
            guard force || used.count < maxConcurrent else { return false }
            used.insert(task)
            return true
        }
    }

    /// Gives the slot back. A release the shared store missed (it was unreachable) is reclaimed
    /// there once the task no longer runs, so it is logged by the caller's error path, not retried.
    func releaseSlot(for task: String) async {
        _ = slots.withLock { $0.remove(task) }
        if let shared { try? await shared.releaseProviderSlot(provider: name, task: task) }
    }

    /// A parked job keeps its slot. In memory that is this instance's set; in a shared store the
    /// row stays and whichever instance polls next finds it taken, so this one forgets it.
    func parked(_ task: String) {
        if shared != nil { _ = slots.withLock { $0.remove(task) } }
    }

    /// The task's lease went elsewhere. A shared slot is the task's, and the worker holding the
    /// task now has it (or, if the task ended, it is reclaimed): only this instance forgets it.
    /// In memory, as before: the slot is given back and a worker that resumes the task takes it.
    func leaseLost(_ task: String) async {
        if shared != nil { _ = slots.withLock { $0.remove(task) } } else { await releaseSlot(for: task) }
    }

    var slotsInUse: Int { slots.withLock { $0.count } }

    /// Waits until `count` requests fit the per-minute budget, then spends them.
    func spend(_ count: Int = 1) async throws {
        if let shared {
            let wait = try await shared.reserveProviderRequests(provider: name, cost: Double(count) * requestCost, tolerance: burstTolerance)
            guard wait > 0 else { return }
            metrics?.increment("reelgate_provider_budget_waits_total", [("provider", name)])
            metrics?.increment("reelgate_provider_budget_wait_seconds_total", [("provider", name)], by: wait)
            try await Task.sleep(for: .seconds(wait))
            return
        }
        while true {
            let wait = bucket.withLock { $0.take(Double(count), now: clock()) }
            guard let wait else { return }
            metrics?.increment("reelgate_provider_budget_waits_total", [("provider", name)])
            metrics?.increment("reelgate_provider_budget_wait_seconds_total", [("provider", name)], by: min(wait, 5))
            try await Task.sleep(for: .seconds(min(wait, 5)))
        }
    }

    /// What the console shows of this provider (SPEC §17): this instance's view (with a shared
    /// database, the jobs in flight are the ones this instance holds).
    struct Health: Sendable {
        var inFlight: Int
        var breaker: String
        var consecutiveFailures: Int
        var retryAfterSeconds: Double
        /// Requests that could go out at once now (the per-second burst), in this instance's bucket.
        var requestsAvailable: Double
    }

    var health: Health {
        let now = clock()
        let breaker = self.breaker.withLock { $0 }
        let state = switch breaker.state {
        case .closed: "closed"
        case .halfOpen: "halfOpen"
        case .open(let until): now >= until ? "halfOpen" : "open"
        }
        return Health(inFlight: slotsInUse, breaker: state, consecutiveFailures: breaker.consecutiveFailures,
                      retryAfterSeconds: breaker.retryAfter(now: now), requestsAvailable: bucket.withLock { $0.available(now: now) })
    }

    /// Whether a call may go out now (false while the breaker is open).
    func allowCall() -> Bool { breaker.withLock { $0.allow(now: clock()) } }
    func retryAfter() -> Double { breaker.withLock { $0.retryAfter(now: clock()) } }
    func record(success: Bool) {
        breaker.withLock { if success { $0.succeeded() } else { $0.failed(now: clock()) } }
    }
}
