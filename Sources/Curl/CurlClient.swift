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
        }
    }

    /// Callback form, for callers on Dispatch queues.
    public func perform(
        _ request: CurlRequest, cancel: CancelFlag = CancelFlag(),
        completion: @escaping @Sendable (Result<CurlResponse, CurlError>) -> Void
    ) {
        enqueue(Job(request: request, cancel: cancel, completion: completion))
    }

    /// Stops the worker threads after the queued transfers.
    public func shutdown() {
        condition.lock()
        queue.withLock { $0.stopped = true }
        condition.broadcast()
        condition.unlock()
    }

    private func enqueue(_ job: Job) {
        condition.lock()
        queue.withLock { $0.jobs.append(job) }
        condition.signal()
        condition.unlock()
    }

    private func nextJob() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let (job, stopped): (Job?, Bool) = queue.withLock { q in
                guard q.head < q.jobs.count else { return (nil, q.stopped) }
                let job = q.jobs[q.head]
                q.jobs[q.head] = nil
                q.head += 1
                if q.head > 64, q.head * 2 > q.jobs.count {
                    q.jobs.removeFirst(q.head)
                    q.head = 0
                }
                return (job, false)
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
        if job.cancel.isCancelled {
            return (.failure(CurlError(kind: .cancelled, curlCode: 42, message: "cancelled before start", host: job.request.hostAndPort?.host ?? "?")),
                    job.completion)
        }
        return (handle.perform(job.request, cancel: job.cancel, proxy: proxy), job.completion)
    }
}
