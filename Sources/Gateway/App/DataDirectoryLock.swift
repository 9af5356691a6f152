import Foundation
import Glibc
import Synchronization

/// An exclusive lock on the data directory while the gateway runs (until its shutdown ends).
///
/// SQLite gives reelgate one writer, and leases assume one process: a second gateway on the same
/// directory would steal work and double-pay. The kernel drops the lock when the process dies
/// (even by kill -9), so a crashed gateway never blocks its own restart.
final class DataDirectoryLock: Sendable {
    struct Held: Error, CustomStringConvertible {
        let directory: String
        var description: String { "another reelgate process is using \(directory)" }
    }

    /// The locked descriptor; -1 once released.
    private let fd: Mutex<Int32>

    init(directory: String) throws {
        // The descriptor is stored only once the lock is held: a class whose properties are all
        // set runs deinit even when init throws, which would close it a second time.
        let fd = open("\(directory)/reelgate.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError(message: "cannot open \(directory)/reelgate.lock (errno \(errno))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Held(directory: directory)
        }
        self.fd = Mutex(fd)
    }

    /// Gives the directory up: the gateway that held it has stopped writing (shutdown), so a
    /// restart or `migrate-store` in this process may take it.
    func release() {
        fd.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }

    struct SystemError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
