import Dispatch
import Glibc
import Synchronization

/// Reports an event loop held up by one job or socket handler for over a second (to the
/// application's log once it says where, ``EventLoopGroup/onStall(_:)``; until then as a JSON
/// line on standard error): every connection of that loop waits meanwhile, so a handler that blocks
/// (a synchronous wait, a slow disk read on the loop) shows up here instead of as timeouts
/// elsewhere. It samples each loop's ``EventLoop/runningWork`` every 250 ms; the loops pay one
/// relaxed store per piece of work.
///
/// Concurrency: one timer on a private queue, for every loop of the process.
final class LoopWatchdog: Sendable {
    static let shared = LoopWatchdog { name, seconds in
        let line = #"{"level":"warning","msg":"event loop held up by one piece of work","loop":"\#(name)","seconds":\#((seconds * 10).rounded() / 10)}"# + "\n"
        _ = line.utf8CString.withUnsafeBufferPointer { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
    }
    static let threshold: UInt64 = 1_000_000_000

    private struct Watched {
        let loop: EventLoop
        /// The piece of work last seen running, and when it was first seen (monotonic ns).
        var seen: UInt64 = 0
        var seenAt: UInt64 = 0
        /// The piece of work already reported, so one stall is told once.
        var reported: UInt64 = 0
    }

    private let watched = Mutex<[Watched]>([])
    private let report: Mutex<@Sendable (_ loop: String, _ seconds: Double) -> Void>
    /// Set once in init and never touched again.
    nonisolated(unsafe) private let timer: any DispatchSourceTimer

    /// - Parameter report: told of each stall once, with the loop's name and how long it had lasted.
    init(report: @escaping @Sendable (_ loop: String, _ seconds: Double) -> Void) {
        self.report = Mutex(report)
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "reelgate.loop-watchdog"))
        timer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250), leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.check() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// Where stalls are reported from now on.
    func reportStalls(to report: @escaping @Sendable (_ loop: String, _ seconds: Double) -> Void) {
        self.report.withLock { $0 = report }
    }

    func watch(_ loops: [EventLoop]) {
        watched.withLock { $0 += loops.map { Watched(loop: $0) } }
    }

    private func check() {
        let now = monotonicNanos()
        let stalls: [(String, Double)] = watched.withLock { all in
            var found: [(String, Double)] = []
            for index in all.indices {
                let running = all[index].loop.runningWork.load(ordering: .relaxed)
                if running != all[index].seen {
                    all[index].seen = running
                    all[index].seenAt = now
                    continue
                }
                // The same piece of work as at an earlier check: held for at least that long.
                guard running != 0, running != all[index].reported, now - all[index].seenAt >= Self.threshold else { continue }
                all[index].reported = running
                found.append((all[index].loop.name, Double(now - all[index].seenAt) / 1e9))
            }
            return found
        }
        let report = self.report.withLock { $0 }
        for (name, seconds) in stalls { report(name, seconds) }
    }
}
