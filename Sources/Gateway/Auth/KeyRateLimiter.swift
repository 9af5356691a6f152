import Domain
import Foundation
import Synchronization

/// Per-key task submission rate limits (SPEC §12), one token bucket per key with a limit.
final class KeyRateLimiter: Sendable {
    private let limits: [String: Int]
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let clock: @Sendable () -> Double

    init(keys: [Configuration.APIKey], clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        limits = Dictionary(keys.compactMap { key in key.tasksPerMinute.map { (key.name, $0) } }, uniquingKeysWith: { a, _ in a })
        self.clock = clock
    }

    /// Takes `count` tokens for `key`; returns nil if allowed, else seconds to wait.
    func admit(_ key: String, count: Int) -> Double? {
        guard let limit = limits[key] else { return nil }
        let now = clock()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? TokenBucket(capacity: Double(limit), period: 60, now: now)
            defer { buckets[key] = bucket }
            return bucket.take(Double(count), now: now)
        }
    }
}
