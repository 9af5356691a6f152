/// Checks UTF-8 a byte at a time, across any split (RFC 3629), so a text message is refused at
/// the first byte that cannot be part of valid UTF-8, even mid-frame (RFC 6455 §8.1, Autobahn
/// group 6 "fail fast").
///
/// Overlong forms, surrogates (U+D800…U+DFFF) and code points past U+10FFFF are invalid at their
/// second byte at the latest, because the allowed range of the byte after a lead byte depends on
/// the lead (RFC 3629 §4).
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current code point.
    private var pending = 0
    /// Allowed range of the next continuation byte.
    private var low: UInt8 = 0x80
    private var high: UInt8 = 0xBF

    public init() {}

    /// Whether the bytes so far end on a code point boundary.
    public var isComplete: Bool { pending == 0 }

    /// Feeds one byte; false as soon as the input can no longer be valid UTF-8.
    @inline(__always)
    public mutating func consume(_ byte: UInt8) -> Bool {
        if pending == 0 {
            switch byte {
            case 0x00...0x7F: return true
            case 0xC2...0xDF: expect(1, 0x80, 0xBF)
            case 0xE0: expect(2, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: expect(2, 0x80, 0xBF)
            case 0xED: expect(2, 0x80, 0x9F)
            case 0xF0: expect(3, 0x90, 0xBF)
            case 0xF1...0xF3: expect(3, 0x80, 0xBF)
            case 0xF4: expect(3, 0x80, 0x8F)
            default: return false  // 0x80…0xC1 (stray continuation, overlong lead), 0xF5…0xFF
            }
            return true
        }
        guard byte >= low, byte <= high else { return false }
        pending -= 1
        low = 0x80
        high = 0xBF
        return true
    }

    /// Feeds a run of bytes; false at the first invalid one.
    public mutating func consume(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes where !consume(byte) { return false }
        return true
    }

    private mutating func expect(_ count: Int, _ low: UInt8, _ high: UInt8) {
        pending = count
        self.low = low
        self.high = high
    }
}
