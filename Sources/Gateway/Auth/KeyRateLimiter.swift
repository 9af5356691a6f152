import Domain
import Store
import Foundation
import Synchronization

/// Per-key rate limits (SPEC §12), one token bucket per key with a limit per minute: task
/// submissions (each key's `tasksPerMinute`) and redeliveries (one limit for every key).
final class KeyRateLimiter: Sendable {
    private let limits: [String: Int]
    private let defaultLimit: Int?
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let clock: @Sendable () -> Double

    /// Each key's own `tasksPerMinute`; keys without one are unlimited.
    init(keys: [Configuration.APIKey], clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        limits = Dictionary(keys.compactMap { key in key.tasksPerMinute.map { (key.name, $0) } }, uniquingKeysWith: { a, _ in a })
        defaultLimit = nil
        self.clock = clock
    }

    /// The same limit for every key.
    init(perMinute: Int, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        limits = [:]
        defaultLimit = perMinute
        self.clock = clock
    }

    /// Takes `count` tokens for `key`; returns nil if allowed, else seconds to wait.
    func admit(_ key: String, count: Int) -> Double? {
        guard let limit = limits[key] ?? defaultLimit else { return nil }
        let now = clock()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? TokenBucket(capacity: Double(limit), period: 60, now: now)
            defer { buckets[key] = bucket }
            return bucket.take(Double(count), now: now)
        }
    }
}
