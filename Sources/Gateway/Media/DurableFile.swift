import FileSync
import Foundation
import Glibc
import Synchronization

/// Files that must outlive a power cut once the database records them: written under a temporary
/// name, fsynced, renamed into place, and their directory fsynced. POSIX promises nothing about a
/// new name until its directory is synced; ext4 without a journal, or XFS, lose it, which would
/// leave a recorded row without its file. The blocking calls run on ``BlockingIO``; the
/// directory's fsync is shared with concurrent writers (``SyncRounds``).
enum DurableFile {
    struct Failed: Error, CustomStringConvertible {
        let step: String
        let errno: Int32
        var description: String { "\(step) failed (errno \(errno))" }
    }

    /// Gives `temporary` (already fsynced, in the same directory) the name `final`, durably. A
    /// failure after the rename removes `final`: never recorded, no sweep would find it.
    static func publish(_ temporary: String, as final: String) async throws(Failed) {
        let directory = (final as NSString).deletingLastPathComponent
        try await blocking { () throws(Failed) in
            guard rename(temporary, final) == 0 else { throw Failed(step: "rename", errno: errno) }
        }
        let path = directory.isEmpty ? "." : directory
        let error = await rounds(of: path).sync()
        guard error == 0 else {
            unlink(final)
            throw Failed(step: "fsync of \(path)", errno: error)
        }
    }

    /// One ``SyncRounds`` per directory for the process, so every writer into it shares them.
    private static let directories = Mutex<[String: SyncRounds]>([:])

    private static func rounds(of directory: String) -> SyncRounds {
        directories.withLock { all in
            if let existing = all[directory] { return existing }
            let rounds = SyncRounds(path: directory, flush: SyncRounds.fsyncDirectory)
            all[directory] = rounds
            return rounds
        }
    }

    /// Writes `bytes` to `path` durably (a temporary name beside it first); nothing is left at
    /// either name if it fails.
    static func write(_ bytes: some ContiguousBytes & Sendable, to path: String) async throws(Failed) {
        let name = (path as NSString).lastPathComponent, directory = (path as NSString).deletingLastPathComponent
        // Hidden and `.partial`, as the start-up clean-up knows a file a crash left half-written.
        let temporary = "\(directory)/.\(name).\(uniqueSuffix()).partial"
        try await blocking { () throws(Failed) in
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
        }
        do {
            try await publish(temporary, as: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Runs `body` on ``BlockingIO``, keeping its typed error.
    private static func blocking(_ body: @escaping @Sendable () throws(Failed) -> Void) async throws(Failed) {
        let outcome: Result<Void, Failed>
        do {
            outcome = try await BlockingIO.run { () -> Result<Void, Failed> in
                do throws(Failed) { try body() } catch { return .failure(error) }
                return .success(())
            }
        } catch {
            outcome = .failure(Failed(step: "blocking I/O", errno: EIO))
        }
        try outcome.get()
    }
}
