/// Stops calling a provider that keeps failing, so tasks fall back or wait instead of piling
/// retries onto an upstream that is down.
///
/// Closed: calls pass; `threshold` retryable failures in a row open it. Open: calls are refused
/// until `cooldown` has passed. Then one trial call is let through (half-open): success closes
/// it, failure opens it again.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable { case closed, open(until: Double), halfOpen }

    public let threshold: Int
    public let cooldown: Double
    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0

    public init(threshold: Int = 5, cooldown: Double = 30) {
        self.threshold = max(threshold, 1)
        self.cooldown = cooldown
    }

    /// Whether a call may go out now; a call allowed while half-open is the trial.
    public mutating func allow(now: Double) -> Bool {
        switch state {
        case .closed: return true
        case .halfOpen: return false  // the trial is already out
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            return true
        }
    }

    /// Seconds until a call may be tried again (0 when it may now).
    public func retryAfter(now: Double) -> Double {
        if case .open(let until) = state { return max(0, until - now) }
        return 0
    }

    public mutating func succeeded() {
        state = .closed
        consecutiveFailures = 0
    }

    /// Only retryable failures count: a 400 says nothing about the provider's health.
    public mutating func failed(now: Double) {
        consecutiveFailures += 1
        if state == .halfOpen || consecutiveFailures >= threshold {
            state = .open(until: now + cooldown)
        }
    }
}
