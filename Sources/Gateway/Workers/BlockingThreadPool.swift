import Dispatch
import Foundation
import Synchronization

/// Threads of its own for calls that block (fsync, `getaddrinfo`, whole-file writes), which
/// neither Swift's cooperative pool nor Dispatch's may wait in: both run about one thread per
/// core, so two stuck calls there stall everything else queued on them.
///
/// Concurrency: callers `await`; their work waits in one FIFO queue, guarded by one condition
/// lock, and each of the pool's threads takes one piece at a time. A thread is started when work
/// arrives and none is idle, up to the pool's size, and then lives as long as the process (an
/// idle gateway keeps few). Separate pools keep one kind of slow call (a name server that never
/// answers) from holding the threads another kind needs (a media file's fsync).
public final class BlockingThreadPool: @unchecked Sendable {  // `queue` is only touched under `lock`
    /// The caller stopped waiting because the deadline passed first.
    public struct TimedOut: Error, Sendable {}
    /// More work than the caller allows is already waiting for a thread.
    public struct Saturated: Error, Sendable {}

    private struct Job {
        let ticket: UInt64
        /// Nil once withdrawn: the closure (and what it holds) is released at once, and the
        /// entry is skipped when reached.
        var body: (@Sendable () -> Void)?
    }

    /// Tickets rise by one per job and jobs leave only from the front, so the queued tickets are
    /// consecutive: a job is found by arithmetic, not by a search.
    private struct Queue {
        var jobs: [Job] = []
        var head = 0
        var nextTicket: UInt64 = 1
        /// Queued jobs not withdrawn.
        var runnable = 0
        var started = 0
        /// Threads waiting on the condition for work.
        var idle = 0

        mutating func dropWithdrawnFront() {
            while head < jobs.count, jobs[head].body == nil { head += 1 }
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: jobs.capacity <= 1024)
                head = 0
            } else if head >= 1024, head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
        }
    }

    private let lock = NSCondition()
    private var queue = Queue()
    private let name: String
    public let threadCount: Int

    /// A pool of at most `threads` threads named `name` (for `top -H`, perf and gdb).
    public init(name: String, threads: Int) {
        self.name = name
        threadCount = max(1, threads)
    }

    /// Runs `body` on one of the pool's threads and returns what it returned, waiting for it
    /// whatever happens to the caller, as a blocking call made in place would: a file write a
    /// caller started is finished (and cleaned up by that caller) even if it is cancelled.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            _ = submit(maxQueued: nil) { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on one of the pool's threads, for a caller that may stop waiting: past
    /// `deadline` it gets ``TimedOut``, if cancelled `CancellationError`, and with `maxQueued`
    /// jobs already waiting ``Saturated`` at once. Work not started by then is withdrawn and never
    /// runs; work already running keeps its thread until it returns, and its result is dropped.
    /// Only for work whose side effects a caller that gave up may leave behind (a name lookup).
    public func run<T: Sendable>(within deadline: Duration, maxQueued: Int? = nil,
                                 _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard outcome.attach(continuation) else { return }  // cancelled already
                guard let ticket = submit(maxQueued: maxQueued, { outcome.finish(Result { try body() }) }) else {
                    return outcome.finish(.failure(Saturated()))
                }
                outcome.onAbandon { [self] in withdraw(ticket) }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(min(deadline / .milliseconds(1), 86_400_000)))) {
                    outcome.abandon(TimedOut())
                }
            }
        } onCancel: {
            outcome.abandon(CancellationError())
        }
    }

    /// How many jobs wait for a thread (withdrawn ones not counted).
    public var queuedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.runnable
    }

    /// Queues `body`; its ticket, or nil when `maxQueued` jobs already wait.
    private func submit(maxQueued: Int?, _ body: @escaping @Sendable () -> Void) -> UInt64? {
        lock.lock()
        if let maxQueued, queue.runnable >= maxQueued {
            lock.unlock()
            return nil
        }
        let ticket = queue.nextTicket
        queue.nextTicket += 1
        queue.jobs.append(Job(ticket: ticket, body: body))
        queue.runnable += 1
        if queue.idle > 0 { lock.signal() }
        // A thread signalled but not yet awake still counts as idle, so what decides is whether
        // the work waiting outnumbers the threads waiting; at the pool's size, the next thread to
        // finish its work takes it.
        let startThread = queue.runnable > queue.idle && queue.started < threadCount
        if startThread { queue.started += 1 }
        lock.unlock()
        if startThread {
            let thread = Thread { [self] in serve() }
            thread.name = name
            thread.stackSize = 512 * 1024
            thread.start()
        }
        return ticket
    }

    /// Takes a job out of the queue if it has not started.
    private func withdraw(_ ticket: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        guard queue.head < queue.jobs.count, ticket >= queue.jobs[queue.head].ticket else { return }  // started already
        let index = queue.head + Int(ticket - queue.jobs[queue.head].ticket)
        guard index < queue.jobs.count, queue.jobs[index].body != nil else { return }
        queue.jobs[index].body = nil
        queue.runnable -= 1
        queue.dropWithdrawnFront()
    }

    private func serve() {
        lock.lock()
        while true {
            queue.dropWithdrawnFront()
            guard queue.head < queue.jobs.count else {
                queue.idle += 1
                lock.wait()
                queue.idle -= 1
                continue
            }
            let body = queue.jobs[queue.head].body
            queue.head += 1
            queue.runnable -= 1
            queue.dropWithdrawnFront()
            lock.unlock()
            body?()
            lock.lock()
        }
    }
}

/// The one answer a ``BlockingThreadPool`` caller that may give up gets: the body's result, or
/// the reason it stopped waiting, whichever comes first. Cancellation can come before the
/// continuation exists.
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
        let action: (@Sendable () -> Void)? = slot.withLock { slot in
            slot.abandoned = true
            defer { slot.onAbandon = nil }
            return slot.onAbandon
        }
        action?()
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
}
