import FileSync
import Foundation
import Glibc
import TestSupport
import Testing

@Suite("Shared fsyncs")
struct SyncRoundsTests {
    /// Callers that arrive while an fsync runs share the next one; a caller is only
    /// answered by an fsync that started after it asked; a failed round fails all its callers
    /// and only them.
    @Test func callersWaitingForAnFsyncShareTheNextOne() async throws {
        let log = FlushLog()
        let sync = SyncRounds(path: "/dir") { _ in log.flush() }
        let first = Task { await sync.sync() }
        await log.started.wait()  // round 1 is inside its fsync, blocked
        let later = (0..<5).map { _ in Task { await sync.sync() } }
        while sync.waitingCount < 5 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(log.count == 1)  // nobody who came during round 1 was answered by it
        log.failNext = true
        log.release()
        #expect(await first.value == 0)
        var failures = 0
        for task in later where await task.value == EIO { failures += 1 }
        #expect(log.count == 2 && failures == 5)  // one more fsync for all five, its failure theirs
        #expect(await sync.sync() == 0)  // and the next round is a new one
        #expect(log.count == 3)
    }
}

/// An fsync that holds its first call until released and can fail on demand.
private final class FlushLog: @unchecked Sendable {
    let started = Gate()
    private let lock = NSCondition()
    private var calls = 0, released = false
    var failNext = false

    var count: Int { lock.withLock { calls } }

    func flush() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        calls += 1
        if calls == 1 {
            started.open()
            while !released { lock.wait() }
            return 0
        }
        defer { failNext = false }
        return failNext ? EIO : 0
    }

    func release() {
        lock.withLock { released = true }
        lock.broadcast()
    }
}
