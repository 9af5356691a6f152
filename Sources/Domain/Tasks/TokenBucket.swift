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

    /// Takes `count` tokens if there are enough; otherwise returns the seconds until there will be.
    public mutating func take(_ count: Double = 1, now: Double) -> Double? {
        tokens = min(capacity, tokens + max(0, now - updatedAt) * refillPerSecond)
        updatedAt = now
        if tokens >= count {
            tokens -= count
            return nil
        }
        return (count - tokens) / refillPerSecond
    }
}
