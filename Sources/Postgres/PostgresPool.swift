import Dispatch
import Foundation
import Synchronization

/// At most `size` libpq connections, each confined to its own serial queue while it runs a job
/// (libpq blocks: never on the cooperative pool or an event loop).
///
/// A caller waits for a free connection in arrival order. A connection the server closed while
/// it was idle is noticed before a job gets it (``PostgresConnection/isAlive``) and replaced; one
/// that breaks during a job is dropped after it; the next checkout connects anew, backing off from 100 ms to 5 s between failed attempts, so a database that is down costs
/// one connect attempt per backoff interval, not one per request. The job that met the failure
/// gets its ``PostgresError`` (kind `.connection`): whether to retry is the caller's to decide,
/// since only it knows whether the job is safe to run twice.
public final class PostgresPool: Sendable {
    public let url: PostgresURL
    public let size: Int

    private struct Slot: @unchecked Sendable {
        /// Used only on `queue`, by one job at a time.
        var connection: PostgresConnection?
        let queue: DispatchQueue
    }

    private struct State {
        var idle: [Slot] = []
        var waiters: [CheckedContinuation<Slot, Never>] = []
        /// No connect attempt before this (monotonic seconds), after a failure.
        var backoffUntil: Double = 0
        var backoff: Double = 0
    }

    private let state = Mutex(State())

    public init(url: PostgresURL, size: Int) {
        self.url = url
        self.size = max(1, size)
        state.withLock { s in
            s.idle = (0..<self.size).map { Slot(connection: nil, queue: DispatchQueue(label: "reelgate.postgres.\($0)")) }
        }
    }

    /// Runs `body` with a connection of its own (connecting first if needed) and returns its value.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws(PostgresError) -> T) async throws(PostgresError) -> T {
        let slot = await checkout()
        let (result, kept): (Result<T, PostgresError>, Slot) = await withCheckedContinuation { continuation in
            slot.queue.async { [self] in
                var slot = slot
                let result: Result<T, PostgresError>
                do throws(PostgresError) {
                    let connection = try connection(for: &slot)
                    result = .success(try body(connection))
                } catch {
                    result = .failure(error)
                }
                // A broken one, or one a job left inside a transaction, is not given to the next.
                if let connection = slot.connection, !connection.isHealthy || !connection.isIdle {
                    connection.close()
                    slot.connection = nil
                    open.subtract(1, ordering: .relaxed)
                }
                continuation.resume(returning: (result, slot))
            }
        }
        checkin(kept)
        return try result.get()
    }

    /// Runs `body` in a transaction on one connection: committed when it returns, rolled back
    /// when it throws.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws(PostgresError) -> T) async throws(PostgresError) -> T {
        try await withConnection { (connection: PostgresConnection) throws(PostgresError) -> T in try connection.transaction(body) }
    }

    /// Connect attempts so far, failed ones included (for `/metrics` and the tests).
    public var connectAttempts: Int { attempts.load(ordering: .relaxed) }
    private let attempts = Atomic<Int>(0)

    /// Connections currently open (for `/metrics` and the tests).
    public var openConnections: Int { open.load(ordering: .relaxed) }

    private let open = Atomic<Int>(0)

    private func connection(for slot: inout Slot) throws(PostgresError) -> PostgresConnection {
        if let connection = slot.connection {
            // One the server closed while it sat idle (after an outage, every idle one) is
            // replaced before a job meets it.
            if connection.isAlive { return connection }
            connection.close()
            slot.connection = nil
            open.subtract(1, ordering: .relaxed)
        }
        let now = ProcessInfo.processInfo.systemUptime
        let waitUntil = state.withLock { $0.backoffUntil }
        guard now >= waitUntil else {
            throw PostgresError(.connection, message: "the database is unreachable; retrying in \(Int((waitUntil - now) * 1000)) ms")
        }
        attempts.add(1, ordering: .relaxed)
        do {
            let connection = try PostgresConnection(url)
            state.withLock { s in
                s.backoff = 0
                s.backoffUntil = 0
            }
            slot.connection = connection
            open.add(1, ordering: .relaxed)
            return connection
        } catch {
            state.withLock { s in
                s.backoff = min(max(s.backoff * 2, 0.1), 5)
                s.backoffUntil = ProcessInfo.processInfo.systemUptime + s.backoff
            }
            throw error
        }
    }

    private func checkout() async -> Slot {
        await withCheckedContinuation { continuation in
            let slot: Slot? = state.withLock { s in
                if !s.idle.isEmpty { return s.idle.removeLast() }
                s.waiters.append(continuation)
                return nil
            }
            if let slot { continuation.resume(returning: slot) }
        }
    }

    private func checkin(_ slot: Slot) {
        let waiter: CheckedContinuation<Slot, Never>? = state.withLock { s in
            if s.waiters.isEmpty {
                s.idle.append(slot)
                return nil
            }
            return s.waiters.removeFirst()
        }
        waiter?.resume(returning: slot)
    }
}
