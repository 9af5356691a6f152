import Glibc

/// Test data made quickly in a debug build, where a per-byte `map` over megabytes holds a thread
/// of the suite's shared cooperative pool for a second or more (and every test with it): one
/// block computed once, copied out with `memcpy`.
public enum TestBytes {
    /// 65,521 bytes, a prime, so the pattern never lines up with power-of-two buffer sizes and a
    /// piece delivered twice or out of order shows.
    public static let block: [UInt8] = (0..<65_521).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }

    /// `count` bytes: the block, repeated.
    public static func pattern(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
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
