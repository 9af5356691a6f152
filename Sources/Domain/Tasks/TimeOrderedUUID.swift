/// UUID version 7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.
///
/// The gateway names each result's video with one: ids made in time order land at the end of
/// the store's index instead of on a random page, so a batch of submits writes a few index pages
/// rather than one per result. 74 random bits keep them unguessable.
public enum TimeOrderedUUID {
    public static func make<R: RandomNumberGenerator>(milliseconds: UInt64, using random: inout R) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(i))) }
        let high = random.next() as UInt64, low = random.next() as UInt64
        for i in 6..<16 { bytes[i] = UInt8(truncatingIfNeeded: (i < 12 ? high >> (8 * UInt64(i - 6)) : low >> (8 * UInt64(i - 12)))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        return UUIDText.dashed(bytes: bytes)
    }

    /// With the system's random source.
    public static func make(milliseconds: UInt64) -> String {
        var random = SystemRandomNumberGenerator()
        return make(milliseconds: milliseconds, using: &random)
    }
}
