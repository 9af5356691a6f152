import Domain
import Foundation
import Synchronization

/// One provider's limits, shared by every worker: job slots, the request budget and the breaker.
final class ProviderGate: Sendable {
    let name: String
    let maxConcurrent: Int
    private let slots = Mutex(0)
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

    /// A job slot, if one is free; `force` takes one anyway (a job already running upstream,
    /// resumed after a restart, is running whether we count it or not).
    func acquireSlot(force: Bool = false) -> Bool {
        slots.withLock { used in
            guard force || used < maxConcurrent else { return false }
            used += 1
            return true
        }
    }

    func releaseSlot() { slots.withLock { $0 = max(0, $0 - 1) } }

    var slotsInUse: Int { slots.withLock { $0 } }

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
