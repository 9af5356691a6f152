import Glibc

// Small file-system helpers the media, spill and webhook-spool files share. Plain syscalls:
// Foundation's `FileManager.attributesOfItem` also resolves the owner's and group's names, which
// reads /etc/passwd and /etc/group on every call, and `UUID()` opens /dev/urandom each time.

/// Writes all of `bytes` to `fd`, retrying short writes and interrupts; false on failure, with
/// `errno` saying why. The one write loop of the media, spill and webhook-spool files.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let base = bytes.baseAddress else { return true }
    var written = 0
    while written < bytes.count {
        let n = Glibc.write(fd, base + written, bytes.count - written)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { return false }
        written += n
    }
    return true
}

/// The size of the file at `path`, or nil when it cannot be stat'ed.
func fileSize(atPath path: String) -> Int64? {
    var info = stat()
    return stat(path, &info) == 0 ? Int64(info.st_size) : nil
}

/// Eight random hex digits (getrandom, no file opened): a temporary name's own part.
func uniqueSuffix() -> String {
    let value = UInt32.random(in: .min ... .max)
    let hex = String(value, radix: 16)
    return String(repeating: "0", count: 8 - hex.count) + hex
}
