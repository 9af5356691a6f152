import Foundation
import Glibc
import HTTP1
import Synchronization

/// A response body read from a local file that exists only for this response (an object staged
/// from the media store): sent piece by piece and removed when the server is done with it, sent
/// or not. The connection calls it from its own queue, one call at a time
/// (``ResponseBodySource``); the download that fills the file (``follow(_:)``) shares only the
/// mutex-guarded state.
///
/// With a download, the file is sent while it arrives: the first bytes go out as soon as they are
/// on disk, not once the whole range is.
final class StagedFile: FilledResponseBodySource, @unchecked Sendable {
    let path: String
    // The connection's own: read position.
    private var fd: Int32 = -1
    private var sent: Int64 = 0

    private struct State {
        var task: Task<Void, Never>?
        var ended = true
        var failure: (any Error)?
        var closed = false
    }

    private let state = Mutex(State())

    init(path: String) { self.path = path }

    deinit { close() }

    struct ReadFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends the file while `fill` writes it. A failed fill ends the body early (the connection
    /// closes: its headers are out); a fill that ends after the server let go removes the file.
    func follow(_ fill: @escaping @Sendable () async throws -> Void) {
        state.withLock { $0.ended = false }
        let task = Task { [self] in
            var failure: (any Error)?
            do { try await fill() } catch { failure = error }
            let closed = state.withLock { state in
                state.ended = true
                state.failure = failure
                return state.closed
            }
            if closed { unlink(path) }  // whatever the download left after the server let go
        }
        state.withLock { $0.task = task }
    }

    /// Bytes on disk beyond what was sent, or the end of the download.
    func ready() async throws {
        var pause = 1  // milliseconds, doubling to 32 while nothing arrives
        while true {
            let (ended, failure) = state.withLock { ($0.ended, $0.failure) }
            if let failure { throw failure }
            var info = stat()
            if stat(path, &info) == 0, Int64(info.st_size) > sent { return }
            if ended { return }
            try await Task.sleep(for: .milliseconds(pause))  // the file grows as curl writes it
            pause = min(pause * 2, 32)
        }
    }

    func next(into buffer: inout [UInt8], maxBytes: Int) throws {
        if fd < 0 {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ReadFailed(description: "staged media \(path) cannot be opened (errno \(errno))") }
        }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: maxBytes))
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + start, maxBytes) }
        buffer.removeLast(maxBytes - max(n, 0))
        if n < 0 { throw ReadFailed(description: "reading staged media failed (errno \(errno))") }
        sent += Int64(n)
    }

    func close() {
        let (first, task) = state.withLock { state -> (Bool, Task<Void, Never>?) in
            defer { state.closed = true }
            return (!state.closed, state.ended ? nil : state.task)
        }
        guard first else { return }
        task?.cancel()  // the client went away: stop fetching for it
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        unlink(path)
    }
}
