import Foundation
import Glibc
import Synchronization

/// Test diagnostics: reports the cooperative thread pool held up, with the stacks of its busy
/// threads. Every test in the process shares that pool (one thread per core), so one blocking call
/// in async code stalls all of them, and the failures show up far from their cause, as timeouts
/// in whatever tests were running (CI has seen the whole suite stand still for ~10 s at once).
///
/// A thread of its own sends a probe task every 250 ms; when none has run for over 3 s, it says
/// on standard error how long the pool stood still, once it moves again. With
/// `REELGATE_TEST_POOL_STACKS=1` it also attaches gdb to this process, once, and writes the pool
/// threads that were running a job, with their frames (the pool's threads block the signals the
/// loop watchdog uses to ask a loop for its stack, hence a debugger). Not by default: gdb stops
/// the whole process for seconds, which turns one stall into many failures elsewhere.
public enum PoolWatchdog {
    private static let lastRun = Atomic<UInt64>(0)
    private static let started: Void = {
        let thread = Thread { watch() }
        thread.name = "test.pool-watchdog"
        thread.start()
    }()

    /// Starts it once per process (idempotent; called by the test helpers most tests use).
    public static func start() { _ = started }

    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    private static func watch() {
        lastRun.store(now(), ordering: .relaxed)
        var stalledSince: UInt64 = 0  // the last probe run before the stall now going on, or 0
        var stacksTaken = false
        while true {
            usleep(250_000)
            Task.detached { lastRun.store(now(), ordering: .relaxed) }
            let last = lastRun.load(ordering: .relaxed)
            let held = now() &- last
            if held > 3_000_000_000 {
                guard stalledSince != last else { continue }
                if stalledSince != 0 {  // the last stall ended and another began between two looks
                    report("the cooperative pool stood still for over 3 s, then again\n")
                }
                stalledSince = last
                // Said at once as well, so a pool that never moves again (a hung run) is reported.
                // gdb stops the whole process for seconds, which turns one stall into many
                // failures: stacks only when asked (REELGATE_TEST_POOL_STACKS=1), and once a run.
                let stacks = ProcessInfo.processInfo.environment["REELGATE_TEST_POOL_STACKS"] == "1" && !stacksTaken
                stacksTaken = stacksTaken || stacks
                report("the cooperative pool has run no probe for \(held / 1_000_000) ms"
                    + (stacks ? "; its busy threads:\n" + busyPoolStacks() : " (still going)\n"))
            } else if stalledSince != 0 {
                // Over: how long it lasted is what tells which timeouts it could have tripped.
                report("the cooperative pool ran no probe for \((last &- stalledSince) / 1_000_000) ms"
                    + " (set REELGATE_TEST_POOL_STACKS=1 for the busy threads' stacks, taken with gdb)\n")
                stalledSince = 0
            }
        }
    }

    private static func report(_ text: String) {
        FileHandle.standardError.write(Data(("--- test diagnostics: " + text + "--- end of pool report\n").utf8))
    }

    /// Every thread's stack, from gdb, demangled, into a file, when `REELGATE_TEST_HANG_STACKS=1`
    /// (for chasing something stuck: a test that gave up waiting calls it); the file's path, or nil.
    public static func dumpAllStacks(label: String) -> String? {
        guard ProcessInfo.processInfo.environment["REELGATE_TEST_HANG_STACKS"] == "1",
              FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return nil }
        let file = NSTemporaryDirectory() + "reelgate-hang-\(label)-\(getpid()).txt"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "/usr/bin/gdb -p \(getpid()) -batch -ex 'thread apply all bt 40' 2>/dev/null | /opt/swift/usr/bin/swift-demangle --simplified > \(file)"]
        do { try process.run() } catch { return nil }
        process.waitUntilExit()
        return file
    }

    /// The stacks of pool threads that were running a job, from gdb, demangled.
    private static func busyPoolStacks() -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return "(gdb is not installed)\n" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let demangle = FileManager.default.isExecutableFile(atPath: "/opt/swift/usr/bin/swift-demangle")
            ? " | /opt/swift/usr/bin/swift-demangle --simplified" : ""
        // To a file, not a pipe: gdb stops every thread of this process, the reader's too, and
        // would block on a full pipe forever.
        let file = NSTemporaryDirectory() + "pool-stall-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
        defer { unlink(file) }
        process.arguments = ["-c", "/usr/bin/gdb -p \(getpid()) -batch -ex 'thread apply all bt 30' 2>/dev/null\(demangle) > \(file)"]
        do { try process.run() } catch { return "(gdb did not start: \(error))\n" }
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        var report = ""
        for block in output.components(separatedBy: "\nThread ").dropFirst() {
            let lines = block.split(separator: "\n")
            guard let head = lines.first, head.contains("default-qos"), !head.contains("overcommit") else { continue }
            let frames = lines.dropFirst().filter { $0.hasPrefix("#") }
            // An idle pool thread waits for work inside the dispatch worker; a busy one runs a job.
            guard frames.contains(where: { $0.contains("swift_job_run") || $0.contains("_dispatch_call_block_and_release") }) else { continue }
            report += "Thread " + head + "\n"
            for frame in frames {
                // `#3  0x… in function (args) at file:line`: the function and where.
                var text = String(frame)
                if let inRange = text.range(of: " in ") { text = String(frame.prefix(4)) + String(text[inRange.upperBound...]) }
                report += "  " + String(text.prefix(220)) + "\n"
            }
        }
        return report.isEmpty ? "(no pool thread was running a job when gdb looked)\n" : report
    }
}
