import FileSync
import Foundation
import Glibc
import TestSupport
import Testing

@Suite("Shared fsyncs")
struct SyncRoundsTests {
    /// Callers that arrive while an fsync runs share the next one; a caller is only
    /// answered by an fsync that started after it asked; a failed round fails all its callers,
    /// and the next round starts afresh.
    @Test func callersWaitingForAnFsyncShareTheNextOne() async throws {
        let log = HeldFlush()
        let sync = SyncRounds(path: "/dir") { _ in log.flush() }
        let first = Task { await sync.sync() }
        await log.started.wait()  // round 1 is inside its fsync, blocked
        let later = (0..<5).map { _ in Task { await sync.sync() } }
        while sync.waitingCount < 5 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(log.count == 1)  // nobody who came during round 1 was answered by it
        log.setFailing(true)
        log.release()
        #expect(await first.value == EIO)  // the first round's own fsync, held until now, fails too
        var failures = 0
        for task in later where await task.value == EIO { failures += 1 }
        #expect(log.count == 2 && failures == 5)  // one more fsync for all five, its failure theirs
        log.setFailing(false)
        #expect(await sync.sync() == 0)  // and the next round is a new one
        #expect(log.count == 3)
    }
}
