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
        let reports = Mutex<[(String, Double)]>([])
        let reported = Gate()
        let watchdog = LoopWatchdog { name, seconds in
            reports.withLock { $0.append((name, seconds)) }
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
        loop.execute { usleep(2_500_000) }  // stands for a handler that blocks
        await reported.wait()
        let blocked = Gate()
        loop.execute { blocked.open() }
        await blocked.wait()
        let all = reports.withLock { $0 }
        #expect(all.count == 1 && all.first?.0 == "test.watchdog.0" && (all.first?.1 ?? 0) >= 1, "\(all)")
    }
}
