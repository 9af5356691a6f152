import Glibc

/// Test data made quickly in a debug build, where a per-byte `map` over megabytes holds a thread
/// of the suite's shared cooperative pool for a second or more (and every test with it): one
/// block computed once, copied out with `memcpy`.
public enum TestBytes {
    /// 65,521 bytes, a prime, so the pattern never lines up with power-of-two buffer sizes and a
    /// piece delivered twice or out of order shows.
    public static let block: [UInt8] = (0..<65_521).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }

    /// `count` bytes: the block, repeated.
    public static func pattern(_ count: Int) -> [UInt8] { repeating(block, count: count) }

    /// `count` bytes: `block` over and over.
    public static func repeating(_ block: [UInt8], count: Int) -> [UInt8] {
        guard count > 0, !block.isEmpty else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            block.withUnsafeBufferPointer { source in
                var offset = 0
                while offset < count {
                    let n = min(source.count, count - offset)
                    memcpy(buffer.baseAddress! + offset, source.baseAddress!, n)
                    offset += n
                }
            }
            initialized = count
        }
    }
}

extension RawResponse {
    /// Whether the body holds `text`, searched with memchr and memcmp: a response of megabytes
    /// made into a String and searched there holds a thread of the suite's pool in a debug build.
    public func bodyContains(_ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard !needle.isEmpty else { return true }
        return body.withUnsafeBytes { haystack in
            needle.withUnsafeBytes { wanted in
                guard haystack.count >= wanted.count, let base = haystack.baseAddress else { return false }
                var start = 0
                while start + wanted.count <= haystack.count {
                    guard let hit = memchr(base + start, Int32(needle[0]), haystack.count - start - wanted.count + 1) else { return false }
                    if memcmp(hit, wanted.baseAddress!, wanted.count) == 0 { return true }
                    start = base.distance(to: UnsafeRawPointer(hit)) + 1
                }
                return false
            }
        }
    }
}
