import Glibc

/// Substring tests on UTF-8 bytes. Foundation's `String.contains(_:)` goes through
/// `CFStringFind` on Linux: about 2.5 µs for a 230-byte text (a release microbenchmark), which
/// matters on paths run for every request or log line. Byte equality is what those callers mean:
/// their texts are canonical (stored JSON, secrets, log lines), not user text needing Unicode
/// equivalence.
public enum ByteSearch {
    /// Whether `needle`'s bytes occur in `text`'s: `memchr` to each candidate first byte, then
    /// `memcmp` (glibc's `memmem` is a GNU extension the Glibc module does not export).
    public static func contains(_ text: String, _ needle: String) -> Bool {
        var text = text, needle = needle
        return text.withUTF8 { haystack in
            needle.withUTF8 { needle in
                guard !needle.isEmpty else { return true }
                guard needle.count <= haystack.count else { return false }
                let base = haystack.baseAddress!, last = haystack.count - needle.count
                var start = 0
                while start <= last, let hit = memchr(base + start, Int32(needle[0]), last - start + 1) {
                    let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + at, needle.baseAddress!, needle.count) == 0 { return true }
                    start = at + 1
                }
                return false
            }
        }
    }
}
