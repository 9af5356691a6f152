import Domain
import Foundation
import Glibc

/// A pipe a gateway logs into and a test reads, to wait for a line it can observe (rather than
/// sleeping for something to have happened).
final class LogPipe: @unchecked Sendable {
    let readFD: Int32
    let writeFD: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ProcessErrorText("pipe failed") }
        readFD = fds[0]
        writeFD = fds[1]
    }

    /// The first JSON log line whose `msg` is `message`; reads on a thread of its own.
    func waitFor(_ message: String) async throws -> JSONValue {
        let fd = readFD
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var pending: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = read(fd, &chunk, chunk.count)
                    guard n > 0 else { return continuation.resume(throwing: ProcessErrorText("the log ended before \(message)")) }
                    pending += chunk[0..<n]
                    while let newline = pending.firstIndex(of: 10) {
                        let line = Array(pending[..<newline])
                        pending.removeFirst(newline + 1)
                        if let value = try? JSONParser.parse(line), value["msg"]?.string == message { return continuation.resume(returning: value) }
                    }
                }
            }
        }
    }

    func close() {
        Glibc.close(writeFD)
        Glibc.close(readFD)
    }
}

struct ProcessErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
