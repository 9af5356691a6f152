/// Exponential backoff with full jitter, capped, honouring an upstream's own retry hint.
///
/// Delays (before jitter) for `base` 1 s, `cap` 60 s: 1, 2, 4, 8, 16, 32, 60, 60 … A hint from
/// the upstream (Retry-After, retry-after-ms, RetryInfo) is a floor: never retry sooner than asked.
public struct RetryPolicy: Sendable {
    public var base: Double
    public var cap: Double
    public var maxAttempts: Int

    public init(base: Double = 1, cap: Double = 60, maxAttempts: Int = 8) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// Seconds to wait after failed attempt number `attempt` (1-based); `random` is in [0, 1).
    public func delay(afterAttempt attempt: Int, hint: Double?, random: Double) -> Double {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap, base * Double(1 << exponent))
        let jittered = ceiling * random
        return max(jittered, hint ?? 0)
    }

    public func shouldRetry(attempt: Int) -> Bool { attempt < maxAttempts }
}
