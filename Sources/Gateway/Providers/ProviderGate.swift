import Domain
import Store
import Foundation
import Synchronization

/// One provider's limits, shared by every worker: job slots, the request budget and the breaker.
final class ProviderGate: Sendable {
    let name: String
    let maxConcurrent: Int
    /// The tasks holding a job slot: a set of task ids, so a parked job keeps its slot and a
    /// slot can be reconciled with the store.
    private let slots = Mutex<Set<String>>([])
    private let bucket: Mutex<TokenBucket>
    private let breaker: Mutex<CircuitBreaker>
    private let clock: @Sendable () -> Double

    let metrics: Metrics?

    init(name: String, limits: Configuration.ProviderLimits, metrics: Metrics? = nil,
         clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.name = name
        self.metrics = metrics
        maxConcurrent = max(limits.maxConcurrent, 1)
        // One second's worth of burst: no window of W seconds ever sees more than RPM/60 × (W + 1)
        // requests (a minute-sized bucket would allow twice the RPM within one minute).
        let perSecond = Double(max(limits.requestsPerMinute, 1)) / 60
        bucket = Mutex(TokenBucket(capacity: max(perSecond, 1), period: max(perSecond, 1) / perSecond, now: clock()))
        breaker = Mutex(CircuitBreaker(threshold: limits.breakerThreshold, cooldown: limits.breakerCooldownSeconds))
        self.clock = clock
    }

    /// A job slot for `task`, if one is free (or it already has one); `force` takes one anyway
    /// (a job already running upstream is running whether we count it or not).
    func acquireSlot(for task: String, force: Bool = false) -> Bool {
        slots.withLock { used in
            if used.contains(task) { return true }
            guard force || used.count < maxConcurrent else { return false }
            used.insert(task)
            return true
        }
    }

    func releaseSlot(for task: String) { _ = slots.withLock { $0.remove(task) } }

    var slotsInUse: Int { slots.withLock { $0.count } }

    /// Waits until `count` requests fit the per-minute budget, then spends them.
    func spend(_ count: Int = 1) async throws {
        while true {
            let wait = bucket.withLock { $0.take(Double(count), now: clock()) }
            guard let wait else { return }
            metrics?.increment("reelgate_provider_budget_waits_total", [("provider", name)])
            metrics?.increment("reelgate_provider_budget_wait_seconds_total", [("provider", name)], by: min(wait, 5))
            try await Task.sleep(for: .seconds(min(wait, 5)))
        }
    }

    /// Whether a call may go out now (false while the breaker is open).
    func allowCall() -> Bool { breaker.withLock { $0.allow(now: clock()) } }
    func retryAfter() -> Double { breaker.withLock { $0.retryAfter(now: clock()) } }
    func record(success: Bool) {
        breaker.withLock { if success { $0.succeeded() } else { $0.failed(now: clock()) } }
    }
}
