import Dispatch
import Glibc
import Synchronization

/// fsyncs of one directory, shared: every caller waiting when a round starts is covered by that
/// round's one fsync. Without it each stored result paid a directory fsync of its own, one at a
/// time per worker; in a burst they now go out in rounds, as a database's group commit does.
///
/// A caller joins only a round that has not started (it renamed before joining, so the fsync
/// that follows covers its name). Rounds run one at a time on the directory's own queue;
/// callers await without holding a thread.
final class DirectorySync: Sendable {
    private struct State {
        var running = false
        var waiting: [CheckedContinuation<Void, any Error>] = []
    }

    let path: String
    private let state = Mutex(State())
    private let queue: DispatchQueue
    /// The fsync itself: `fsync(2)` of the directory, answering 0 or an errno. A seam for tests.
    private let flush: @Sendable (String) -> Int32

    init(path: String, flush: @escaping @Sendable (String) -> Int32 = DirectorySync.fsyncDirectory) {
        self.path = path
        self.flush = flush
        queue = DispatchQueue(label: "reelgate.directory-sync")
    }

    /// Returns once an fsync of the directory that started after this call has succeeded.
    func sync() async throws(DurableFile.Failed) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let start = state.withLock { state in
                    state.waiting.append(continuation)
                    defer { state.running = true }
                    return !state.running
                }
                if start { queue.async { self.runRounds() } }
            }
        } catch let failed as DurableFile.Failed {
            throw failed
        } catch {
            throw DurableFile.Failed(step: "fsync of \(path)", errno: EIO)
        }
    }

    /// Callers waiting for a round that has not started.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Runs rounds until nobody waits: each takes the waiters so far, then fsyncs once for all.
    private func runRounds() {
        while true {
            let round: [CheckedContinuation<Void, any Error>] = state.withLock { state in
                defer { state.waiting = [] }
                if state.waiting.isEmpty { state.running = false }
                return state.waiting
            }
            if round.isEmpty { return }
            let error = flush(path)
            for waiter in round {
                if error == 0 {
                    waiter.resume()
                } else {
                    waiter.resume(throwing: DurableFile.Failed(step: "fsync of \(path)", errno: error))
                }
            }
        }
    }

    @Sendable static func fsyncDirectory(_ path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return fsync(fd) == 0 ? 0 : errno
    }

    /// One per directory for the process, so every writer into it shares the rounds.
    private static let shared = Mutex<[String: DirectorySync]>([:])

    static func of(_ directory: String) -> DirectorySync {
        shared.withLock { all in
            if let existing = all[directory] { return existing }
            let sync = DirectorySync(path: directory)
            all[directory] = sync
            return sync
        }
    }
}
