import CCurl
import Foundation
import Synchronization

/// Runs transfers on a fixed set of threads, each with its own reusable easy handle.
///
/// `curl_easy_perform` blocks, so it must never run on Swift's cooperative pool (two threads on
/// this machine: one blocked transfer would stall half the app). Callers `await` a continuation;
/// the thread count bounds concurrent transfers, which is also the natural back-pressure.
public final class CurlClient: Sendable {
    private final class Job: @unchecked Sendable {
        let request: CurlRequest
        let cancel: CancelFlag
        let completion: @Sendable (Result<CurlResponse, CurlError>) -> Void
        init(request: CurlRequest, cancel: CancelFlag, completion: @escaping @Sendable (Result<CurlResponse, CurlError>) -> Void) {
            self.request = request
            self.cancel = cancel
            self.completion = completion
        }
    }

    private struct Queue {
        /// Taken slots are emptied at once: a finished job must not keep its request (a body, a
        /// sink holding a relay's buffer) alive until the array is next compacted.
        var jobs: [Job?] = []
        var head = 0
        var stopped = false
    }

    private let queue = Mutex(Queue())
    private let condition = NSCondition()
    public let threadCount: Int
    /// The egress proxy every transfer goes through, if one is configured; never one from the environment.
    public let proxy: String?

    /// Initialises libcurl once per process; thread-safe in libcurl ≥ 7.84, and called before any
    /// transfer thread starts.
    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// - Parameter name: names the threads (`reelgate.<name>.<n>`), so a stack dump tells
    ///   upstream transfers from deliveries.
    public init(threads: Int = 8, proxy: String? = nil, name: String = "curl") {
        _ = CurlClient.globalInit
        threadCount = max(threads, 1)
        self.proxy = proxy
        for i in 0..<threadCount {
            let thread = Thread { [self] in runWorker() }
            thread.name = "reelgate.\(name).\(i)"
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }

    /// Performs `request`; throws ``CurlError``. Cancelling the calling task aborts the transfer.
    public func perform(_ request: CurlRequest) async throws -> CurlResponse {
        let cancel = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CurlResponse, any Error>) in
                enqueue(Job(request: request, cancel: cancel) { result in
                    continuation.resume(with: result.mapError { $0 as any Error })
                })
            }
        } onCancel: {
            cancel.cancel()
            withdraw(cancel)
        }
    }

    /// Callback form, for callers on Dispatch queues.
    public func perform(
        _ request: CurlRequest, cancel: CancelFlag = CancelFlag(),
        completion: @escaping @Sendable (Result<CurlResponse, CurlError>) -> Void
    ) {
        enqueue(Job(request: request, cancel: cancel, completion: completion))
    }

    /// Transfers waiting for a thread.
    public var queuedTransfers: Int { queue.withLock { q in q.jobs[q.head...].count { $0 != nil } } }

    /// Stops the worker threads after the queued transfers.
    public func shutdown() {
        condition.lock()
        queue.withLock { $0.stopped = true }
        condition.broadcast()
        condition.unlock()
    }

    /// A job cancelled before it is queued is answered at once. (The check and the append are
    /// under the queue's lock, as is ``withdraw(_:)``'s search: a cancellation either finds the
    /// job queued or is seen here.)
    private func enqueue(_ job: Job) {
        condition.lock()
        let queued = queue.withLock { q in
            guard !job.cancel.isCancelled else { return false }
            q.jobs.append(job)
            return true
        }
        if queued { condition.signal() }
        condition.unlock()
        if !queued { job.completion(.failure(Self.cancelled(job, "cancelled before start"))) }
    }

    /// Answers a cancelled job that no thread has taken yet at once, rather than when a thread
    /// next frees up: behind long transfers that can be many seconds, all that time holding its
    /// caller (a delivery slot, a worker shutting down). A job already running stops on its own
    /// flag.
    private func withdraw(_ cancel: CancelFlag) {
        let job: Job? = queue.withLock { q in
            for index in q.head..<q.jobs.count where q.jobs[index]?.cancel === cancel {
                defer { q.jobs[index] = nil }
                return q.jobs[index]
            }
            return nil
        }
        if let job { job.completion(.failure(Self.cancelled(job, "cancelled while queued"))) }
    }

    private static func cancelled(_ job: Job, _ message: String) -> CurlError {
        CurlError(kind: .cancelled, curlCode: 42, message: message, host: job.request.hostAndPort?.host ?? "?")
    }

    private func nextJob() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let (job, stopped): (Job?, Bool) = queue.withLock { q in
                // Withdrawn jobs leave empty slots behind: skipped.
                while q.head < q.jobs.count {
                    let job = q.jobs[q.head]
                    q.jobs[q.head] = nil
                    q.head += 1
                    if q.head > 64, q.head * 2 > q.jobs.count {
                        q.jobs.removeFirst(q.head)
                        q.head = 0
                    }
                    if let job { return (job, false) }
                }
                return (nil, q.stopped)
            }
            if let job { return job }
            if stopped { return nil }
            condition.wait()
        }
    }

    private func runWorker() {
        let handle = EasyHandle()
        while let (result, completion) = nextOutcome(handle) {
            completion(result)
        }
    }

    /// Runs the next job; the job (its request, body and sink) is let go before its caller is
    /// answered, so a caller that finds its sink released can rely on it.
    private func nextOutcome(_ handle: EasyHandle) -> (Result<CurlResponse, CurlError>, @Sendable (Result<CurlResponse, CurlError>) -> Void)? {
        guard let job = nextJob() else { return nil }
        if job.cancel.isCancelled { return (.failure(Self.cancelled(job, "cancelled before start")), job.completion) }
        return (handle.perform(job.request, cancel: job.cancel, proxy: proxy), job.completion)
    }
}
