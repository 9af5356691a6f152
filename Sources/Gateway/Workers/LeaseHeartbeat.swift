/// The lease on a piece of work was lost while it ran (it expired and was claimed again, or the
/// work was taken away): the holder must stop and write nothing more.
struct LeaseLost: Error, CustomStringConvertible {
    let reason: String
    var description: String { "lease lost \(reason)" }
}

/// Runs `body` while renewing its lease every `interval`, as a child task: a renewal that fails
/// (`renew` answers false) cancels `body` at once and throws ``LeaseLost``, so work whose lease
/// is gone never goes on to run twice. A renewal that throws (the database was busy) is tried
/// again at the next beat, once: beats are a third of the lease, so after two failures in a row
/// the lease may lapse before the next, and the work stops as if it had.
func withLeaseHeartbeat<T: Sendable>(
    every interval: Duration, renew: @escaping @Sendable () async throws -> Bool, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            var failures = 0
            // Beats keep to a fixed schedule: a slow renewal does not push every later one back.
            var next = ContinuousClock.now
            while true {
                next = max(next + interval, .now)
                try await Task.sleep(until: next)
                do {
                    guard try await renew() else { throw LeaseLost(reason: "while renewing") }
                    failures = 0
                } catch let lost as LeaseLost {
                    throw lost
                } catch {
                    failures += 1
                    if failures >= 2 { throw LeaseLost(reason: "renewals failed twice in a row: \(error)") }
                }
            }
        }
        defer { group.cancelAll() }
        // Only the body returns a value; the heartbeat ends by throwing.
        while let next = try await group.next() {
            if let value = next { return value }
        }
        throw CancellationError()
    }
}
