import Foundation
import Glibc

/// Files that must outlive a power cut once the database records them: written under a temporary
/// name, fsynced, renamed into place, and their directory fsynced. POSIX promises nothing about a
/// new name until its directory is synced; ext4 without a journal, or XFS, lose it, which would
/// leave a recorded row without its file. Blocking: run these off the cooperative pool.
enum DurableFile {
    struct Failed: Error, CustomStringConvertible {
        let step: String
        let errno: Int32
        var description: String { "\(step) failed (errno \(errno))" }
    }

    /// Gives `temporary` (already fsynced, in the same directory) the name `final`, durably. A
    /// failure after the rename removes `final`: never recorded, no sweep would find it.
    static func publish(_ temporary: String, as final: String) throws(Failed) {
        guard rename(temporary, final) == 0 else { throw Failed(step: "rename", errno: errno) }
        let directory = (final as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        guard fd >= 0, fsync(fd) == 0 else {
            let failure = Failed(step: fd < 0 ? "opening \(directory)" : "fsync of \(directory)", errno: errno)
            unlink(final)
            throw failure
        }
    }

    /// Writes `bytes` to `path` durably (a temporary name beside it first); nothing is left at
    /// either name if it fails.
    static func write(_ bytes: some ContiguousBytes, to path: String) throws(Failed) {
        let name = (path as NSString).lastPathComponent, directory = (path as NSString).deletingLastPathComponent
        // Hidden and `.partial`, as the start-up clean-up knows a file a crash left half-written.
        let temporary = "\(directory)/.\(name).\(uniqueSuffix()).partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failed(step: "creating \(temporary)", errno: errno) }
        let failure: Failed? = bytes.withUnsafeBytes { buffer in
            guard writeAll(fd, buffer) else { return Failed(step: "writing \(temporary)", errno: errno) }
            return fsync(fd) == 0 ? nil : Failed(step: "fsync of \(temporary)", errno: errno)
        }
        close(fd)
        if let failure {
            unlink(temporary)
            throw failure
        }
        do {
            try publish(temporary, as: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }
}
