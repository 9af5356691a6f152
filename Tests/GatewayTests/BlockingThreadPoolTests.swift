import Dispatch
import Domain
import Foundation
@testable import Gateway
import Synchronization
import TestSupport
import Testing

/// Blocking calls on threads of their own: more of them stuck than there are cores leaves room
/// for the next, and a caller that gave up never has its work run later.
@Suite("Blocking thread pools")
struct BlockingThreadPoolTests {
    /// Holds a pool thread until opened; opened at the latest when the test ends.
    final class Blocker: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        func hold() {
            started.signal()
            semaphore.wait()
        }
        func open(_ count: Int) { for _ in 0..<count { semaphore.signal() } }
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    @Test func moreStuckCallsThanCoresStillLeaveRoomForFileWork() async throws {
        // Dispatch's concurrent queues (what BlockingIO was) run about one thread per core and add
        // one more only every few seconds: this many stuck fsyncs or lookups stalled every file
        // write of the process for tens of seconds. Here they all start at once.
        let stuck = BlockingIO.pool.threadCount - 1
        try #require(stuck > ProcessInfo.processInfo.activeProcessorCount)
        let blocker = Blocker()
        defer { blocker.open(stuck) }
        for _ in 0..<stuck { Task { try await BlockingIO.run { blocker.hold() } } }
        let allStarted = try await OffPool.run {
            let deadline = DispatchTime.now() + .seconds(10)
            return (0..<stuck).allSatisfy { _ in blocker.started.wait(timeout: deadline) == .success }
        }
        #expect(allStarted, "\(stuck) blocking calls did not all get a thread")
        #expect(try await BlockingIO.run { 42 } == 42)
    }

    @Test func workWhoseCallerTimedOutBeforeItStartedNeverRuns() async throws {
        let ran = Flag()
        try await withItsOneThreadBusy { pool in
            await #expect(throws: BlockingThreadPool.TimedOut.self) {
                try await pool.run(within: .milliseconds(50)) { ran.set() }
            }
            #expect(pool.queuedCount == 0)
        }
        #expect(!ran.isSet)
    }

    @Test func workWhoseCallerWasCancelledBeforeItStartedNeverRuns() async throws {
        let ran = Flag()
        try await withItsOneThreadBusy { pool in
            let waiting = Task { try await pool.run(within: .seconds(60)) { ran.set() } }
            while pool.queuedCount == 0 { await Task.yield() }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
        }
        #expect(!ran.isSet)
    }

    @Test func pastItsLimitOfWaitingWorkACallerIsRefusedAtOnce() async throws {
        try await withItsOneThreadBusy { pool in
            let first = Task { try await pool.run(within: .seconds(60), maxQueued: 1) { 1 } }
            while pool.queuedCount == 0 { await Task.yield() }
            await #expect(throws: BlockingThreadPool.Saturated.self) {
                try await pool.run(within: .seconds(60), maxQueued: 1) { 2 }
            }
            #expect(pool.queuedCount == 1)
            _ = first  // runs once the thread is free
        }
    }

    /// File work a caller started is finished and its result handed back even if the caller is
    /// cancelled meanwhile (a lease lost, a client gone): the caller then cleans up after it,
    /// instead of unlinking a file that the still-running write creates again.
    @Test func plainRunWaitsForItsWorkWhateverHappensToTheCaller() async throws {
        let pool = BlockingThreadPool(name: "test.pool", threads: 1)
        let blocker = Blocker()
        let running = Task { try await pool.run { blocker.hold(); return 7 } }
        let queued = Task { try await pool.run { 8 } }
        try await OffPool.run { blocker.started.wait() }
        running.cancel()
        queued.cancel()
        blocker.open(1)
        #expect(try await running.value == 7)
        #expect(try await queued.value == 8)
    }

    /// Runs `body` while a one-thread pool's thread is held, then frees it and waits until work
    /// queued after `body` has run: FIFO, so anything `body` left queued has run by then.
    private func withItsOneThreadBusy(_ body: (BlockingThreadPool) async throws -> Void) async throws {
        let pool = BlockingThreadPool(name: "test.pool", threads: 1)
        let blocker = Blocker()
        let holding = Task { try await pool.run { blocker.hold() } }
        try await OffPool.run { blocker.started.wait() }
        do {
            try await body(pool)
        } catch {
            blocker.open(1)
            throw error
        }
        blocker.open(1)
        try await holding.value
        try await pool.run {}
    }

    @Test func workAlreadyRunningFinishesItsCallerStillGetsTheTimeout() async throws {
        let pool = BlockingThreadPool(name: "test.pool", threads: 1)
        let blocker = Blocker()
        defer { blocker.open(1) }
        await #expect(throws: BlockingThreadPool.TimedOut.self) {
            try await pool.run(within: .milliseconds(50)) { blocker.hold() }
        }
    }

    @Test func aLookupThatNeverAnswersTimesOutAtItsTimeoutAndQueuedOnesToo() async throws {
        // getaddrinfo cannot be interrupted and may take tens of seconds; the caller must not
        // wait for it. Two threads, three stuck lookups: the third times out while still queued.
        let blocker = Blocker()
        defer { blocker.open(3) }
        // So that a resolver waiting for its lookups fails this test instead of hanging the run.
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(8)) { blocker.open(3) }
        let resolver = SystemResolver(timeout: .milliseconds(200), threads: BlockingThreadPool(name: "test.dns", threads: 2)) { _ in
            blocker.hold()
            return [.v4(0x0808_0808)]
        }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for host in ["a.example", "b.example", "c.example"] {
                group.addTask {
                    await #expect(throws: SystemResolver.Failed.self) { try await resolver.resolve(host) }
                }
            }
            try await group.waitForAll()
        }
        // Before, the lookup's task group waited for getaddrinfo whatever the timeout: forever here.
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func theSystemLookupStillAnswers() async throws {
        #expect(try await SystemResolver().resolve("127.0.0.1") == [.v4(0x7F00_0001)])
    }
}
