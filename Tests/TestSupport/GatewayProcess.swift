import Foundation
import Glibc

/// The real `reelgate` binary, spawned for an integration test.
///
/// Readiness is learnt from the ready line on stdout, and later events from the JSON log lines on
/// stderr: tests wait on what the process says, never on a fixed sleep.
public final class GatewayProcess: @unchecked Sendable {
    public let process = Process()
    private let condition = NSCondition()
    private var stdoutText = ""
    private var stderrText = ""
    private var exited = false
    /// Output pipes read to their end: after exit, what the process wrote is all here only then.
    private var pipesAtEnd = 0
    private let out = Pipe(), err = Pipe()

    /// The package's root folder (for committed files such as `config/reelgate.json`).
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Path of the built `reelgate` executable (`swift test` builds it before the tests).
    public static var binaryPath: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("reelgate")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside.path }
        return packageRoot + "/.build/debug/reelgate"
    }

    /// - Parameter umask: the file mode mask to start the binary with (through `/bin/sh`), when
    ///   not this process's own.
    public init(arguments: [String] = ["serve"], environment: [String: String], workingDirectory: String? = nil, umask: mode_t? = nil) throws {
        if let umask {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "umask \(String(umask, radix: 8)); exec \"$0\" \"$@\"", GatewayProcess.binaryPath] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: GatewayProcess.binaryPath)
            process.arguments = arguments
        }
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { $1 }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.standardOutput = out
        process.standardError = err
        // Each pipe is read by a thread of its own with blocking reads until EOF. Not
        // readabilityHandler: on Linux that is a Dispatch read source, cancelled asynchronously
        // while the FileHandle closes its descriptor at once, which can leave libdispatch's event
        // loop watching a reused descriptor (seen here as a crash in _dispatch_event_loop_drain).
        // (Plain read(2): FileHandle.read(upToCount:) waits for the full count on a pipe.)
        for (pipe, toStdout) in [(out, true), (err, false)] {
            let handle = pipe.fileHandleForReading  // kept alive by the thread until EOF
            Thread { [weak self] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = Glibc.read(handle.fileDescriptor, &buffer, buffer.count)
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    self?.append(Data(buffer[0..<n]), toStdout: toStdout)
                }
                self?.pipeEnded()
            }.start()
        }
        process.terminationHandler = { [weak self] _ in
            guard let self else { return }
            condition.lock()
            exited = true
            condition.broadcast()
            condition.unlock()
        }
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    private func append(_ data: Data, toStdout: Bool) {
        guard !data.isEmpty else { return }
        condition.lock()
        if toStdout { stdoutText += String(decoding: data, as: UTF8.self) } else { stderrText += String(decoding: data, as: UTF8.self) }
        condition.broadcast()
        condition.unlock()
    }

    private func pipeEnded() {
        condition.lock()
        pipesAtEnd += 1
        condition.broadcast()
        condition.unlock()
    }

    public var standardOutput: String { condition.lock(); defer { condition.unlock() }; return stdoutText }
    public var standardError: String { condition.lock(); defer { condition.unlock() }; return stderrText }

    /// Waits (off the cooperative pool) until `predicate` holds or `timeout` passes.
    private func wait(timeout: Double, _ predicate: @escaping @Sendable (GatewayProcess) -> Bool) async -> Bool {
        await withCheckedContinuation { continuation in
            // A private queue (own thread): see RawHTTPClient on why not the global queues.
            DispatchQueue(label: "gateway-process.wait").async { [self] in
                let deadline = Date().addingTimeInterval(timeout)
                condition.lock()
                var ok = predicate(self)
                while !ok, condition.wait(until: deadline) { ok = predicate(self) }
                ok = predicate(self)
                condition.unlock()
                continuation.resume(returning: ok)
            }
        }
    }

    /// Waits for `listening on http://HOST:PORT` and returns the port.
    public func waitForListening(timeout: Double = 30) async throws -> Int {
        let ok = await wait(timeout: timeout) { $0.stdoutText.contains("listening on http://") || $0.exited }
        let text = standardOutput
        guard ok, let range = text.range(of: "listening on http://") else {
            throw ProcessError("no ready line; stdout: \(text) stderr: \(standardError)")
        }
        let rest = text[range.upperBound...].prefix { $0 != "\n" }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else {
            throw ProcessError("bad ready line \(rest)")
        }
        return port
    }

    /// Waits until stderr (the JSON log) contains `text`.
    public func waitForLog(_ text: String, timeout: Double = 30) async throws {
        guard await wait(timeout: timeout, { $0.stderrText.contains(text) }) else {
            throw ProcessError("log never said \(text); stderr: \(standardError)")
        }
    }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for exit and returns the status (the signal number if killed by one).
    public func waitForExit(timeout: Double = 30) async throws -> Int32 {
        guard await wait(timeout: timeout, { $0.exited }) else {
            process.terminate()
            throw ProcessError("process did not exit; stderr: \(standardError)")
        }
        process.waitUntilExit()
        // The exit can be seen before the reader threads have drained the pipes: a test that
        // then read the error message found it empty. (Bounded: a child holding them open.)
        guard await wait(timeout: 10, { $0.pipesAtEnd == 2 }) else {
            // Another process started meanwhile inherited a write end: the output may be short.
            throw ProcessError("the output pipes stayed open 10 s after exit; stderr so far: \(standardError)")
        }
        return process.terminationStatus
    }

    public var terminationReason: Process.TerminationReason { process.terminationReason }
}

public struct ProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
