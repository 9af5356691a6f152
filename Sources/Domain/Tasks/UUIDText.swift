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
}
