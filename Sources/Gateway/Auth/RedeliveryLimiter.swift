import Foundation
import Synchronization

/// Limits `POST /v1/tasks/<id>/redeliver` (SPEC §12): a rate per key, and a least time between
/// two redeliveries of one task, so a client cannot turn reelgate into a request amplifier
/// against a receiver (every redeliver starts the whole retry schedule again).
final class RedeliveryLimiter: Sendable {
    private let keys: KeyRateLimiter
    private let taskInterval: Double
    private let lastByTask = Mutex<[String: Double]>([:])
    private let clock: @Sendable () -> Double

    init(perKeyPerMinute: Int, taskInterval: Double, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        keys = KeyRateLimiter(perMinute: perKeyPerMinute, clock: clock)
        self.taskInterval = taskInterval
        self.clock = clock
    }

    /// nil when `key` may redeliver `task` now (the attempt is then counted), else seconds to wait.
    /// Checked and counted under one lock, so two concurrent calls cannot both pass.
    func admit(key: String, task: String) -> Double? {
        let now = clock()
        return lastByTask.withLock { table in
            if let last = table[task], now - last < taskInterval { return taskInterval - (now - last) }
            if let wait = keys.admit(key, count: 1) { return wait }
            // Forget tasks whose interval has passed, so the table stays as small as the window.
            if table.count > 10_000 { table = table.filter { now - $0.value < taskInterval } }
            table[task] = now
            return nil
        }
    }
}
