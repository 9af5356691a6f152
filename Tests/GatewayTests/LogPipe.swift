import Domain
import Foundation
import Glibc
import Synchronization

/// A pipe a gateway logs into and a test reads, to wait for a line it can observe (rather than
/// sleeping for something to have happened).
final class LogPipe: @unchecked Sendable {
    let readFD: Int32
    let writeFD: Int32
    /// Whether a reader thread has the read end (it closes it at the end of the log).
    private let reading = Mutex(false)

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ProcessErrorText("pipe failed") }
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// The first JSON log line whose `msg` is `message`; reads on a thread of its own.
    func waitFor(_ message: String) async throws -> JSONValue {
        let fd = readFD
        reading.withLock { $0 = true }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                defer { Glibc.close(fd) }  // the log ended: every write end is closed
                var pending: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                var found = false
                while true {
                    let n = read(fd, &chunk, chunk.count)
                    guard n > 0 else {
                        if !found { continuation.resume(throwing: ProcessErrorText("the log ended before \(message)")) }
                        return
                    }
                    // Once found, the rest is read and dropped until the log ends: a full pipe
                    // would block the gateway's next log line.
                    if found { continue }
                    pending += chunk[0..<n]
                    while !found, let newline = pending.firstIndex(of: 10) {
                        let line = Array(pending[..<newline])
                        pending.removeFirst(newline + 1)
                        if let value = try? JSONParser.parse(line), value["msg"]?.string == message {
                            found = true
                            continuation.resume(returning: value)
                        }
                    }
                }
            }
        }
    }

    /// Closes this end of the writing (a gateway's logger closes its own copy when it goes). The
    /// read end is closed by its reader when the log ends, never under a blocked read.
    func close() {
        Glibc.close(writeFD)
        if !reading.withLock({ $0 }) { Glibc.close(readFD) }
    }
}

struct ProcessErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
