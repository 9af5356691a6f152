import Foundation
import Glibc

/// Makes the data directory private to this user: the directory and every directory below it
/// 0700, every file 0600.
///
/// The process umask covers what is created from now on; this fixes what an earlier run (or an
/// older version) left with wider modes.
enum PrivateFiles {
    struct Failed: Error, CustomStringConvertible {
        let path: String
        let errno: Int32
        var description: String { "cannot make \(path) private (errno \(errno))" }
    }

    static func restrict(directory: String) throws {
        try set(directory, 0o700)
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return }
        while let name = walker.nextObject() as? String {
            let path = "\(directory)/\(name)"
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }  // removed meanwhile
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try set(path, 0o700)
            case S_IFREG: try set(path, 0o600)
            default: continue  // sockets, links: not ours to change
            }
        }
    }

    private static func set(_ path: String, _ mode: mode_t) throws {
        if chmod(path, mode) != 0, errno != ENOENT { throw Failed(path: path, errno: errno) }
    }
}
