import Dispatch
import Glibc
import Synchronization

/// fsyncs of one file or directory, shared: every caller waiting when a round starts is covered
/// by that round's one fsync, as in a database's group commit. Used for the media directory
/// (each stored result's rename) and for SQLite's WAL (each acknowledged commit), where one
/// fsync per caller, one at a time, was most of the wait.
///
/// A caller joins only a round that has not started: it wrote (renamed, committed) before it
/// asked, so the fsync that follows covers its write. Rounds run one at a time on the path's own
/// queue; callers are answered by callback or await, never holding a thread while they wait.
public final class SyncRounds: Sendable {
    private struct State {
        var running = false
        var waiting: [@Sendable (Int32) -> Void] = []
    }

    public let path: String
    private let state = Mutex(State())
    private let queue: DispatchQueue
    /// The fsync itself, answering 0 or an errno. A seam for tests.
    private let flush: @Sendable (String) -> Int32

    public init(path: String, flush: @escaping @Sendable (String) -> Int32) {
        self.path = path
        self.flush = flush
        queue = DispatchQueue(label: "reelgate.sync-rounds")
    }

    /// Calls `completion` with 0 once an fsync of `path` that started after this call has
    /// succeeded, or with the errno of the one that failed.
    public func sync(_ completion: @escaping @Sendable (Int32) -> Void) {
        let start = state.withLock { state in
            state.waiting.append(completion)
            defer { state.running = true }
            return !state.running
        }
        if start { queue.async { self.runRounds() } }
    }

    /// ``sync(_:)`` as an await: 0, or the errno of the failed fsync.
    public func sync() async -> Int32 {
        await withCheckedContinuation { continuation in sync { continuation.resume(returning: $0) } }
    }

    /// Callers waiting for a round that has not started.
    public var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Runs rounds until nobody waits: each takes the waiters so far, then fsyncs once for all.
    private func runRounds() {
        while true {
            let round: [@Sendable (Int32) -> Void] = state.withLock { state in
                defer { state.waiting = [] }
                if state.waiting.isEmpty { state.running = false }
                return state.waiting
            }
            if round.isEmpty { return }
            let error = flush(path)
            for waiter in round { waiter(error) }
        }
    }

    /// `fsync(2)` of a directory: the names renamed into it.
    @Sendable public static func fsyncDirectory(_ path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return fsync(fd) == 0 ? 0 : errno
    }
}
