import Dispatch
import Foundation
import Synchronization

/// Threads of its own for calls that block (fsync, `getaddrinfo`, whole-file writes), which
/// neither Swift's cooperative pool nor Dispatch's may wait in: both run about one thread per
/// core, so two stuck calls there stall everything else queued on them.
///
/// Concurrency: callers `await`; their work waits in one FIFO queue and each of the pool's
/// threads takes one piece at a time. A thread is started when work arrives and none is idle,
/// up to the pool's size, and then lives as long as the process (an idle gateway keeps few). Work not yet started when its caller gives up (cancellation, a deadline) is taken out
/// of the queue and never runs; work already running cannot be interrupted and keeps its thread
/// until it returns, its result dropped. Separate pools keep one kind of slow call (a name server
/// that never answers) from holding the threads another kind needs (a media file's fsync).
public final class BlockingThreadPool: Sendable {
    /// The caller stopped waiting because the deadline passed first.
    public struct TimedOut: Error, Sendable {}

    private struct Job {
        let ticket: UInt64
        let body: @Sendable () -> Void
    }

    private struct Queue {
        var jobs: [Job] = []
        var head = 0
        var nextTicket: UInt64 = 1
        /// Tickets withdrawn while queued: their job is skipped when reached.
        var withdrawn: Set<UInt64> = []
        var started = 0
        /// Threads waiting for work that no queued job has claimed yet.
        var idle = 0
    }

    private let queue = Mutex(Queue())
    /// Counts queued jobs (withdrawn ones included): a thread waits here for work.
    private let available = DispatchSemaphore(value: 0)
    public let threadCount: Int

    private let name: String

    /// A pool of at most `threads` threads named `name` (for `top -H`, perf and gdb).
    public init(name: String, threads: Int) {
        self.name = name
        threadCount = max(1, threads)
    }

    /// Runs `body` on one of the pool's threads and returns what it returned. A caller cancelled
    /// before `body` started gets `CancellationError` and `body` never runs; past `deadline`
    /// (from now) it gets ``TimedOut``, whether or not `body` started.
    public func run<T: Sendable>(within deadline: Duration? = nil, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard outcome.attach(continuation) else { return }  // cancelled already
                let ticket = submit { outcome.finish(Result { try body() }) }
                outcome.onAbandon { [self] in withdraw(ticket) }
                if let deadline {
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(min(deadline / .milliseconds(1), 86_400_000)))) {
                        outcome.abandon(TimedOut())
                    }
                }
            }
        } onCancel: {
            outcome.abandon(CancellationError())
        }
    }

    /// How many jobs wait for a thread (withdrawn ones not counted).
    public var queuedCount: Int {
        queue.withLock { $0.jobs.count - $0.head - $0.withdrawn.count }
    }

    private func submit(_ body: @escaping @Sendable () -> Void) -> UInt64 {
        let (ticket, startThread) = queue.withLock { queue in
            let ticket = queue.nextTicket
            queue.nextTicket += 1
            queue.jobs.append(Job(ticket: ticket, body: body))
            if queue.idle > 0 {
                queue.idle -= 1  // that thread takes this job
                return (ticket, false)
            }
            guard queue.started < threadCount else { return (ticket, false) }  // the next thread free takes it
            queue.started += 1
            return (ticket, true)
        }
        if startThread {
            let thread = Thread { [self] in serve() }
            thread.name = name
            thread.stackSize = 512 * 1024
            thread.start()
        }
        available.signal()
        return ticket
    }

    /// Takes a job out of the queue if it has not started (its thread skips it).
    private func withdraw(_ ticket: UInt64) {
        queue.withLock { queue in
            if queue.jobs[queue.head...].contains(where: { $0.ticket == ticket }) { queue.withdrawn.insert(ticket) }
        }
    }

    private func serve() {
        var first = true
        while true {
            // A new thread was started for a job; one that finished one is idle until work comes.
            if !first { queue.withLock { $0.idle += 1 } }
            first = false
            available.wait()
            let job: Job? = queue.withLock { queue in
                let job = queue.jobs[queue.head]
                queue.head += 1
                if queue.head == queue.jobs.count {
                    queue.jobs.removeAll(keepingCapacity: queue.jobs.capacity <= 1024)
                    queue.head = 0
                } else if queue.head >= 1024, queue.head * 2 >= queue.jobs.count {
                    queue.jobs.removeFirst(queue.head)
                    queue.head = 0
                }
                return queue.withdrawn.remove(job.ticket) == nil ? job : nil
            }
            job?.body()
        }
    }
}

/// The one answer a ``BlockingThreadPool`` caller gets: the body's result, or the reason it
/// stopped waiting, whichever comes first. Cancellation can come before the continuation exists.
private final class Outcome<T: Sendable>: Sendable {
    private enum State {
        case waiting
        case attached(CheckedContinuation<T, any Error>)
        case done
    }

    private struct Slot {
        var state = State.waiting
        var onAbandon: (@Sendable () -> Void)?
        var abandoned = false
    }

    private let slot = Mutex(Slot())

    /// False when the caller gave up before the continuation was attached (it is resumed here).
    func attach(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let early: Bool = slot.withLock { slot in
            if case .done = slot.state { return true }
            slot.state = .attached(continuation)
            return false
        }
        if early { continuation.resume(throwing: CancellationError()) }
        return !early
    }

    /// What to do when the caller gives up before the body finished (withdraw the job).
    func onAbandon(_ action: @escaping @Sendable () -> Void) {
        let now: Bool = slot.withLock { slot in
            if slot.abandoned { return true }
            slot.onAbandon = action
            return false
        }
        if now { action() }
    }

    /// Resumes the caller with `result` unless it was resumed already.
    func finish(_ result: Result<T, any Error>) {
        claim()?.resume(with: result)
    }

    /// The caller stops waiting with `error` unless it has its answer already; the job is
    /// withdrawn first (if it has not started), so a caller that goes on finds it gone.
    func abandon(_ error: any Error) {
        guard let continuation = claim() else { return }
        markAbandoned()
        continuation.resume(throwing: error)
    }

    /// The continuation, if nobody has resumed it yet; no one else will after this.
    private func claim() -> CheckedContinuation<T, any Error>? {
        slot.withLock { slot in
            switch slot.state {
            case .attached(let continuation):
                slot.state = .done
                return continuation
            case .waiting:
                slot.state = .done  // attach will see it and resume with the cancellation
                return nil
            case .done:
                return nil
            }
        }
    }

    private func markAbandoned() {
        let action: (@Sendable () -> Void)? = slot.withLock { slot in
            slot.abandoned = true
            defer { slot.onAbandon = nil }
            return slot.onAbandon
        }
        action?()
    }
}
