/// An IPv4 or IPv6 address as bytes, with the classification SPEC §7 needs.
public enum IPAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])  // 16 bytes

    /// Parses a canonical literal: dotted-decimal IPv4 (no leading zeros) or RFC 4291 IPv6.
    public init?(literal text: String) {
        if let v4 = IPAddress.parseDottedDecimal(text) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseIPv6(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6(let b):
            var groups: [String] = []
            for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(b[i]) << 8 | UInt16(b[i + 1]), radix: 16)) }
            return groups.joined(separator: ":")
        }
    }

    // MARK: Classification

    /// IPv4 ranges no outbound request may reach (SPEC §7).
    static let deniedV4: [(UInt32, Int)] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
        (0x0A00_0000, 8),  // 10/8 private
        (0x6440_0000, 10),  // 100.64/10 carrier-grade NAT
        (0x7F00_0000, 8),  // 127/8 loopback
        (0xA9FE_0000, 16),  // 169.254/16 link-local (cloud metadata lives here)
        (0xAC10_0000, 12),  // 172.16/12 private
        (0xC000_0000, 24),  // 192.0.0/24 IETF protocol assignments
        (0xC000_0200, 24),  // 192.0.2/24 documentation
        (0xC0A8_0000, 16),  // 192.168/16 private
        (0xC612_0000, 15),  // 198.18/15 benchmarking
        (0xC633_6400, 24),  // 198.51.100/24 documentation
        (0xCB00_7100, 24),  // 203.0.113/24 documentation
        (0xE000_0000, 4),  // 224/4 multicast
        (0xF000_0000, 4),  // 240/4 reserved, incl. broadcast
    ]

    /// The IPv4 address an IPv6 address carries, if it is one of the forms that embed one:
    /// IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d` (RFC 2765),
    /// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4
    /// `2002:AABB:CCDD::/48`.
    public var embeddedIPv4: UInt32? {
        guard case .v6(let b) = self else { return nil }
        func v4(at i: Int) -> UInt32 { UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]) }
        if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF { return v4(at: 12) }
        if b[0..<8].allSatisfy({ $0 == 0 }), b[8] == 0xFF, b[9] == 0xFF, b[10] == 0, b[11] == 0 { return v4(at: 12) }
        if b[0..<12].allSatisfy({ $0 == 0 }), v4(at: 12) > 1 { return v4(at: 12) }
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xFF, b[3] == 0x9B, b[4..<12].allSatisfy({ $0 == 0 }) { return v4(at: 12) }
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xFF, b[3] == 0x9B, b[4] == 0x00, b[5] == 0x01 { return v4(at: 12) }
        if b[0] == 0x20, b[1] == 0x02 { return v4(at: 2) }
        return nil
    }

    /// Whether this address is on the public internet, as far as SPEC §7 is concerned.
    public var isPublic: Bool {
        switch self {
        case .v4(let a):
            return !IPAddress.deniedV4.contains { network, bits in a >> (32 - UInt32(bits)) == network >> (32 - UInt32(bits)) }
        case .v6(let b):
            if b.allSatisfy({ $0 == 0 }) { return false }  // ::
            if b[0..<15].allSatisfy({ $0 == 0 }), b[15] == 1 { return false }  // ::1
            if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
            if b[0] == 0xFE, b[1] & 0xC0 == 0x80 { return false }  // fe80::/10 link-local
            if b[0] == 0xFE, b[1] & 0xC0 == 0xC0 { return false }  // fec0::/10 old site-local
            if b[0] == 0xFF { return false }  // ff00::/8 multicast
            if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0D, b[3] == 0xB8 { return false }  // 2001:db8::/32 documentation
            if b[0] == 0x20, b[1] == 0x01, b[2] == 0x00, b[3] == 0x00 { return false }  // 2001::/32 Teredo tunnels anywhere
            if b[0] == 0x01, b[1..<8].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard
            if let v4 = embeddedIPv4 { return IPAddress.v4(v4).isPublic }
            return true
        }
    }

    /// Whether the address lies in `cidr` (`10.0.0.0/8`, `fd00::/8`, or a bare address).
    public func isIn(cidr: String) -> Bool {
        let parts = cidr.split(separator: "/", maxSplits: 1)
        guard let network = IPAddress(literal: String(parts[0])) else { return false }
        switch (self, network) {
        case (.v4(let a), .v4(let n)):
            let bits = parts.count > 1 ? Int(parts[1]) ?? -1 : 32
            guard (0...32).contains(bits) else { return false }
            return bits == 0 || a >> (32 - UInt32(bits)) == n >> (32 - UInt32(bits))
        case (.v6(let a), .v6(let n)):
            let bits = parts.count > 1 ? Int(parts[1]) ?? -1 : 128
            guard (0...128).contains(bits) else { return false }
            for i in 0..<16 {
                let remaining = bits - i * 8
                if remaining <= 0 { break }
                let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
                if a[i] & mask != n[i] & mask { return false }
            }
            return true
        default:
            return false
        }
    }

    // MARK: Parsing

    /// `a.b.c.d`, each 0–255 in plain decimal without leading zeros.
    static func parseDottedDecimal(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber),
                part == "0" || !part.hasPrefix("0"), let n = UInt32(part), n <= 255
            else { return nil }
            value = value << 8 | n
        }
        return value
    }

    /// How `inet_aton` (and so many URL parsers) would read a host: 1–4 parts, each decimal,
    /// octal (`0` prefix) or hex (`0x`), the last filling the remaining bytes (`127.1`,
    /// `2130706433`, `0x7f.1`, `0177.0.0.1`). nil if the host is not numeric in that sense.
    public static func parseLenientIPv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            let s = part.lowercased()
            guard !s.isEmpty else { return nil }
            let n: UInt64?
            if s.hasPrefix("0x") {
                n = s.count == 2 ? 0 : UInt64(s.dropFirst(2), radix: 16)
            } else if s.hasPrefix("0"), s.count > 1 {
                n = UInt64(s.dropFirst(), radix: 8)
            } else {
                n = UInt64(s, radix: 10)
            }
            guard let n, n <= 0xFFFF_FFFF else { return nil }
            numbers.append(n)
        }
        let last = numbers.removeLast()
        guard numbers.allSatisfy({ $0 <= 255 }), last < (UInt64(1) << (8 * UInt64(4 - numbers.count))) else { return nil }
        var value: UInt64 = 0
        for n in numbers { value = value << 8 | n }
        value = value << (8 * UInt64(4 - numbers.count)) | last
        return UInt32(value)
    }

    /// RFC 4291 text form, with `::` and an optional trailing dotted IPv4; no zone ids.
    static func parseIPv6(_ text: String) -> [UInt8]? {
        guard text.contains(":"), !text.contains("%"), text.count <= 45 else { return nil }
        var head: [UInt16] = [], tail: [UInt16] = []
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String, allowV4: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if allowV4, i == items.count - 1, item.contains(".") {
                    guard let v4 = parseDottedDecimal(String(item)) else { return nil }
                    out += [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
                    continue
                }
                guard (1...4).contains(item.count), let g = UInt16(item, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        if halves.count == 2 {
            guard let h = groups(halves[0], allowV4: false), let t = groups(halves[1], allowV4: true), h.count + t.count <= 7 else { return nil }
            head = h
            tail = t
        } else {
            guard let all = groups(text, allowV4: true), all.count == 8 else { return nil }
            head = all
        }
        let words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
