import Foundation
import Glibc

/// An exclusive lock on the data directory for the life of the process.
///
/// SQLite gives reelgate one writer, and leases assume one process: a second gateway on the same
/// directory would steal work and double-pay. The kernel drops the lock when the process dies
/// (even by kill -9), so a crashed gateway never blocks its own restart.
final class DataDirectoryLock: Sendable {
    struct Held: Error, CustomStringConvertible {
        let directory: String
        var description: String { "another reelgate process is using \(directory)" }
    }

    private let fd: Int32

    init(directory: String) throws {
        // The descriptor is stored only once the lock is held: a class whose properties are all
        // set runs deinit even when init throws, which would close it a second time.
        let fd = open("\(directory)/reelgate.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError(message: "cannot open \(directory)/reelgate.lock (errno \(errno))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Held(directory: directory)
        }
        self.fd = fd
    }

    deinit { close(fd) }

    struct SystemError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
