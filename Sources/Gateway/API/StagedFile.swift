import Foundation
import Glibc
import HTTP1

/// A response body read from a local file that exists only for this response (an object staged
/// from the media store): sent piece by piece and removed when the server is done with it, sent
/// or not. The connection calls it from its own queue, one call at a time
/// (``ResponseBodySource``), which is what makes the mutable state safe.
final class StagedFile: ResponseBodySource, @unchecked Sendable {
    let path: String
    private var fd: Int32 = -1
    private var closed = false

    init(path: String) { self.path = path }

    deinit { close() }

    struct ReadFailed: Error, CustomStringConvertible {
        let description: String
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
    }

    func close() {
        guard !closed else { return }
        closed = true
        if fd >= 0 { Glibc.close(fd) }
        unlink(path)
    }
}
