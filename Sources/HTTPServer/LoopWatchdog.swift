import CThreads
import Dispatch
import Glibc
import Synchronization

/// Reports an event loop held up by one job or socket handler for over a second (to the
/// application's log once it says where, ``EventLoopGroup/onStall(_:)``; until then as a JSON
/// line on standard error): every connection of that loop waits meanwhile, so a handler that blocks
/// (a synchronous wait, a slow disk read on the loop) shows up here instead of as timeouts
/// elsewhere. It samples each loop's ``EventLoop/runningWork`` every 250 ms; the loops pay one
/// relaxed store per piece of work. A report carries where the loop's thread was at that moment
/// (its stack, asked for with a signal): a stall that cannot be reproduced names its code anyway.
///
/// Concurrency: one timer on a private queue, for every loop of the process.
final class LoopWatchdog: Sendable {
    static let shared = LoopWatchdog { stall in
        let frames = stall.stack.map { "\"\(JSONEscaped($0))\"" }.joined(separator: ",")
        let line = #"{"level":"warning","msg":"event loop held up by one piece of work","loop":"\#(stall.loop)","seconds":\#(stall.roundedSeconds),"stack":[\#(frames)]}"# + "\n"
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
    private let report: Mutex<@Sendable (LoopStall) -> Void>
    /// Set once in init and never touched again.
    nonisolated(unsafe) private let timer: any DispatchSourceTimer

    /// - Parameter report: told of each stall once.
    init(report: @escaping @Sendable (LoopStall) -> Void) {
        self.report = Mutex(report)
        Self.installStackHandler
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "reelgate.loop-watchdog"))
        timer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250), leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.check() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// Where stalls are reported from now on.
    func reportStalls(to report: @escaping @Sendable (LoopStall) -> Void) {
        self.report.withLock { $0 = report }
    }

    func watch(_ loops: [EventLoop]) {
        watched.withLock { $0 += loops.map { Watched(loop: $0) } }
    }

    private func check() {
        let now = monotonicNanos()
        let stalls: [(loop: EventLoop, seconds: Double, work: UInt64)] = watched.withLock { all in
            var found: [(loop: EventLoop, seconds: Double, work: UInt64)] = []
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
                found.append((all[index].loop, Double(now - all[index].seenAt) / 1e9, running))
            }
            return found
        }
        let report = self.report.withLock { $0 }
        for (loop, seconds, work) in stalls {
            var stack = Self.stack(of: loop)
            // Taken a moment after the sample: only the stack of the same piece of work is shown.
            if loop.runningWork.load(ordering: .relaxed) != work { stack = [] }
            report(LoopStall(loop: loop.name, seconds: seconds, stack: stack))
        }
    }

    /// Installed once per process, before the first loop can be asked.
    private static let installStackHandler: Void = cthreads_install_stack_handler()

    /// Where the loop's thread is now, one frame a line; empty if it did not answer within 200 ms.
    private static func stack(of loop: EventLoop) -> [String] {
        let thread = loop.threadID
        guard thread != 0, let capture = cthreads_capture_stack(thread, 200) else { return [] }
        defer { cthreads_stack_free(capture) }
        let count = Int(cthreads_stack_count(capture))
        guard count > 0, let symbols = cthreads_stack_symbols(capture) else { return [] }
        defer { free(symbols) }
        // The first two frames are the signal handler and the kernel's return trampoline.
        return (min(2, count - 1)..<count).compactMap { symbols[$0].map { String(cString: $0) } }
    }
}

/// One loop held up by one piece of work: which, for how long when seen, and where its thread was.
public struct LoopStall: Sendable {
    public let loop: String
    public let seconds: Double
    /// `binary(symbol+offset) [address]` per frame, innermost first (`addr2line -e binary offset`
    /// names the line when the symbol is not exported); empty if the thread did not answer, or had
    /// moved on to other work by then.
    public let stack: [String]

    /// To a tenth of a second, as logs show it.
    public var roundedSeconds: Double { (seconds * 10).rounded() / 10 }
}

/// `text` as the inside of a JSON string (the frames carry no quotes, but a binary's path may).
private func JSONEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
