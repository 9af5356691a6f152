/// The lease on a piece of work was lost while it ran (it expired and was claimed again, or the
/// work was taken away): the holder must stop and write nothing more.
struct LeaseLost: Error, CustomStringConvertible {
    let reason: String
    var description: String { "lease lost \(reason)" }
}

/// Runs `body` while renewing its lease every `interval`, as a child task: a renewal that fails
/// (`renew` answers false) cancels `body` at once and throws ``LeaseLost``, so work whose lease
/// is gone never goes on to run twice. A renewal that throws (the database was busy) is tried
/// again at the next beat: the lease still has two beats to run.
func withLeaseHeartbeat<T: Sendable>(
    every interval: Duration, renew: @escaping @Sendable () async throws -> Bool, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            while true {
                try await Task.sleep(for: interval)
                let held = (try? await renew()) ?? true
                guard held else { throw LeaseLost(reason: "while renewing") }
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
