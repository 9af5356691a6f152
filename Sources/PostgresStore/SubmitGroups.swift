import Postgres
import Store
import Synchronization

/// Group commit for submits on PostgreSQL: the ACK waits for COMMIT (and with
/// `synchronous_commit` on, for the WAL flush), so the throughput of one-submit transactions is
/// one flush per task. Submits that arrive while `flushes` groups are being written wait and go
/// together into the next transaction, each answered once it committed: under load a flush
/// carries many tasks, alone a submit goes at once.
///
/// A group that fails is written again one submit at a time, so one bad submit (or a deadlock
/// victim) fails only itself; an unreachable database fails each with its error.
///
/// Concurrency model: a mutex-guarded queue; at most `flushes` flushing tasks run at a time (the
/// store uses one), each taking everything queued when it starts (up to `maxTasks`).
final class SubmitGroups: Sendable {
    typealias Write = @Sendable ([NewTask]) async throws(PostgresError) -> [SubmitOutcome]

    private struct Waiting {
        let tasks: [NewTask]
        let continuation: CheckedContinuation<[SubmitOutcome], any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var flushing = 0
    }

    private let state = Mutex(State())
    private let flushes: Int
    private let maxTasks: Int
    private let write: Write

    init(flushes: Int, maxTasks: Int = 1_000, write: @escaping Write) {
        self.flushes = max(flushes, 1)
        self.maxTasks = maxTasks
        self.write = write
    }

    /// Submits waiting for a flush (tests).
    var queuedCount: Int { state.withLock { $0.queue.count } }

    func submit(_ tasks: [NewTask]) async throws -> [SubmitOutcome] {
        guard !tasks.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.queue.append(Waiting(tasks: tasks, continuation: continuation))
                guard state.flushing < flushes else { return false }
                state.flushing += 1
                return true
            }
            if start { Task { await self.flushWhileQueued() } }
        }
    }

    private func flushWhileQueued() async {
        while true {
            let group = state.withLock { state -> [Waiting] in
                var taken = 0, count = 0
                for waiting in state.queue {
                    if count > 0 && taken + waiting.tasks.count > maxTasks { break }
                    taken += waiting.tasks.count
                    count += 1
                }
                let group = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                if group.isEmpty { state.flushing -= 1 }
                return group
            }
            if group.isEmpty { return }
            await flush(group)
        }
    }

    private func flush(_ group: [Waiting]) async {
        do {
            let outcomes = try await write(group.flatMap(\.tasks))
            var offset = 0
            for waiting in group {
                waiting.continuation.resume(returning: Array(outcomes[offset..<offset + waiting.tasks.count]))
                offset += waiting.tasks.count
            }
        } catch where group.count > 1 && error.kind != .connection {
            for waiting in group {
                do {
                    waiting.continuation.resume(returning: try await write(waiting.tasks))
                } catch {
                    waiting.continuation.resume(throwing: error)
                }
            }
        } catch {
            for waiting in group { waiting.continuation.resume(throwing: error) }
        }
    }
}
