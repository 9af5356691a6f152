/// The text form of a UUID (RFC 9562 §4): 32 lowercase hex digits grouped 8-4-4-4-12.
public enum UUIDText {
    /// `hex`, 32 hex digits, with the dashes put in.
    public static func dashed(_ hex: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(36)
        for (index, character) in hex.enumerated() {
            if index == 8 || index == 12 || index == 16 || index == 20 { out.append("-") }
            out.append(character)
        }
        return out
    }

    /// 16 bytes as a dashed lowercase UUID, written byte by byte (one is made per submitted task).
    public static func dashed(bytes: [UInt8]) -> String {
        precondition(bytes.count == 16)
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { out in
            var at = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                out[at] = digits[Int(byte >> 4)]
                out[at + 1] = digits[Int(byte & 0x0F)]
                at += 2
            }
            return at
        }
    }
}
