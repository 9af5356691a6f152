/// A token bucket: `capacity` tokens, refilled continuously at `capacity` per `period` seconds.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let refillPerSecond: Double
    public private(set) var tokens: Double
    public private(set) var updatedAt: Double

    public init(capacity: Double, period: Double, now: Double) {
        self.capacity = capacity
        refillPerSecond = capacity / period
        tokens = capacity
        updatedAt = now
    }

    /// The tokens there are at `now`, without taking any.
    public func available(now: Double) -> Double { min(capacity, tokens + max(0, now - updatedAt) * refillPerSecond) }

    /// Takes `count` tokens if there are enough; otherwise returns the seconds until there will be.
    public mutating func take(_ count: Double = 1, now: Double) -> Double? {
        tokens = available(now: now)
        updatedAt = now
        if tokens >= count {
            tokens -= count
            return nil
        }
        return (count - tokens) / refillPerSecond
    }
}
