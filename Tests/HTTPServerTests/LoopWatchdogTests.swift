import Glibc
import Synchronization
import Testing
import TestSupport
@testable import HTTPServer

/// A loop held up by one piece of work is reported once, with its name; short work is not.
@Suite("event loop watchdog", .timeLimit(.minutes(1)))
struct LoopWatchdogTests {
    @Test func aBlockedLoopIsReportedOnceAndShortWorkIsNot() async throws {
        let group = EventLoopGroup(count: 1, name: "test.watchdog")
        let reports = Mutex<[LoopStall]>([])
        let reported = Gate()
        let watchdog = LoopWatchdog { stall in
            reports.withLock { $0.append(stall) }
            reported.open()
        }
        watchdog.watch(group.loops)
        let loop = group.loops[0]
        // Short pieces of work, many of them, add up to more than the threshold but none is over it.
        for _ in 0..<20 { loop.execute { usleep(100_000) } }
        let done = Gate()
        loop.execute { done.open() }
        await done.wait()
        #expect(reports.withLock { $0.isEmpty })
        loop.execute {
            // Stands for a handler that blocks. A watchdog's stack request interrupts a sleep
            // (EINTR), so it sleeps until a deadline, not for a duration.
            let end = monotonicNanos() + 3_500_000_000
            while monotonicNanos() < end { usleep(50_000) }
        }
        await reported.wait()
        let blocked = Gate()
        loop.execute { blocked.open() }
        await blocked.wait()
        let all = reports.withLock { $0 }
        #expect(all.count == 1 && all.first?.loop == "test.watchdog.0" && (all.first?.seconds ?? 0) >= 1, "\(all)")
        // Where the thread was: in the blocking call, inside the job the test gave the loop.
        let stack = all.first?.stack ?? []
        #expect(stack.first?.contains("nanosleep") == true, "\(stack)")
        #expect(stack.contains { $0.contains("usleep") } && stack.contains { $0.contains("Thread") }, "\(stack)")
    }
}
