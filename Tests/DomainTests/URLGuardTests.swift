import Domain
import Testing

/// A resolver answering from a table, so names can point anywhere (the DNS-rebinding seam).
struct TableResolver: HostResolver {
    let table: [String: [String]]
    struct NXDomain: Error {}
    func resolve(_ host: String) async throws -> [IPAddress] {
        guard let entries = table[host] else { throw NXDomain() }
        return entries.compactMap { IPAddress(literal: $0) }
    }
}

let resolver = TableResolver(table: [
    "example.com": ["93.184.216.34"],
    "v6.example.com": ["2606:4700::1111"],
    "rebind.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["8.8.8.8", "10.0.0.1"],
    "mapped.example": ["::ffff:10.1.2.3"],
    "internal.corp": ["10.20.30.40"],
])
let strict = URLGuard(allowHTTP: false, allowHosts: [], resolver: resolver)

@Suite("URLGuard (SPEC §7)")
struct URLGuardTests {
    static let hostile: [String] = [
        // scheme, userinfo, length, characters
        "http://example.com/hook", "ftp://example.com/file", "file:///etc/passwd", "gopher://example.com/",
        "https://user:pass@example.com/", "https://user@example.com/", "https://example.com@127.0.0.1/",
        "https://example.com/" + String(repeating: "a", count: 2040), "https://exa mple.com/", "https://example.com\\@evil.com/",
        "https:///nohost", "https://ex%61mple.com/",
        // loopback and private IPv4, every range of §7
        "https://127.0.0.1/", "https://127.255.255.254:8443/x", "https://0.0.0.0/", "https://10.0.0.1/", "https://100.64.0.1/",
        "https://169.254.169.254/latest/meta-data/", "https://172.16.5.4/", "https://172.31.255.255/", "https://192.0.0.8/",
        "https://192.168.1.1/", "https://198.18.0.1/", "https://224.0.0.1/", "https://239.255.255.250/", "https://240.0.0.1/",
        "https://255.255.255.255/",
        // decimal, octal, hex and short spellings of loopback
        "https://2130706433/", "https://0x7f000001/", "https://0x7f.0.0.1/", "https://0177.0.0.1/", "https://017700000001/",
        "https://127.1/", "https://127.0.1/", "https://0/", "https://1.2.3/",
        // IPv6 loopback, unspecified, ULA, link-local, multicast, Teredo
        "https://[::1]/", "https://[::]/", "https://[fc00::1]/", "https://[fd12:3456::1]/", "https://[fe80::1]/", "https://[ff02::1]/",
        "https://[2001:0::1]/", "https://[::1%25eth0]/",
        // IPv4 embedded in IPv6: mapped, compatible, NAT64, 6to4
        "https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/", "https://[::ffff:10.0.0.1]/", "https://[::127.0.0.1]/",
        "https://[64:ff9b::127.0.0.1]/", "https://[64:ff9b::a9fe:a9fe]/", "https://[64:ff9b:1::c0a8:1]/",
        "https://[2002:7f00:1::]/", "https://[2002:c0a8:101::1]/",
        // IPv4-translated ::ffff:0:0/96 (RFC 2765)
        "https://[::ffff:0:7f00:1]/", "https://[::ffff:0:127.0.0.1]/", "https://[::ffff:0:a9fe:a9fe]/", "https://[::ffff:0:a00:1]/",
        // names: loopback names, names resolving to private addresses (rebinding), unresolvable
        "https://localhost/", "https://LOCALHOST./", "https://api.localhost/", "https://rebind.example/hook",
        "https://metadata.example/", "https://mixed.example/", "https://mapped.example/", "https://nxdomain.example/",
        "https://internal.corp/",
        // bad ports
        "https://example.com:0/", "https://example.com:65536/", "https://example.com:80x/",
    ]

    @Test(arguments: hostile)
    func refused(_ url: String) async {
        await #expect(throws: URLRefusal.self) { try await strict.check(url) }
    }

    @Test func atLeastThirtyHostileURLs() { #expect(Self.hostile.count >= 30) }

    @Test(arguments: [
        ("https://example.com/hooks?token=1", "93.184.216.34", 443),
        ("https://EXAMPLE.com:8443/x", "93.184.216.34", 8443),
        ("https://8.8.8.8/", "8.8.8.8", 443),
        ("https://[2606:4700::1111]:444/", "2606:4700:0:0:0:0:0:1111", 444),
        ("https://v6.example.com/", "2606:4700:0:0:0:0:0:1111", 443),
    ])
    func publicURLsPassAndArePinned(url: String, address: String, port: Int) async throws {
        let checked = try await strict.check(url)
        #expect(checked.address.description == address)
        #expect(checked.port == port)
    }

    @Test func allowListsOpenNamedHostsAndCIDRs() async throws {
        let relaxed = URLGuard(allowHTTP: true, allowHosts: ["127.0.0.0/8", "internal.corp"], resolver: resolver)
        #expect(try await relaxed.check("http://127.0.0.1:9000/hook").address == IPAddress(literal: "127.0.0.1"))
        #expect(try await relaxed.check("https://rebind.example/").address == IPAddress(literal: "127.0.0.1"))
        #expect(try await relaxed.check("https://internal.corp/").address == IPAddress(literal: "10.20.30.40"))
        // Everything else stays closed.
        await #expect(throws: URLRefusal.self) { try await relaxed.check("https://10.0.0.1/") }
        await #expect(throws: URLRefusal.self) { try await relaxed.check("https://metadata.example/") }
        await #expect(throws: URLRefusal.self) { try await relaxed.check("ftp://example.com/") }
    }

    @Test func addressClassification() {
        #expect(IPAddress.parseLenientIPv4("2130706433") == 0x7F00_0001)
        #expect(IPAddress.parseLenientIPv4("0x7f.1") == 0x7F00_0001)
        #expect(IPAddress.parseLenientIPv4("0177.0.0.1") == 0x7F00_0001)
        #expect(IPAddress(literal: "::ffff:1.2.3.4")?.embeddedIPv4 == 0x0102_0304)
        #expect(IPAddress(literal: "::ffff:0:1.2.3.4")?.embeddedIPv4 == 0x0102_0304)
        #expect(IPAddress(literal: "::ffff:0:808:808")?.isPublic == true)
        #expect(IPAddress(literal: "2002:0102:0304::")?.embeddedIPv4 == 0x0102_0304)
        #expect(IPAddress(literal: "1.2.3.4")?.isPublic == true)
        #expect(IPAddress(literal: "01.2.3.4") == nil)  // leading zeros are not canonical
        #expect(IPAddress(literal: "10.1.2.3")?.isIn(cidr: "10.0.0.0/8") == true)
        #expect(IPAddress(literal: "fd00::5")?.isIn(cidr: "fd00::/8") == true)
    }
}

@Suite("URLHost")
struct URLHostTests {
    @Test func hostAndPortOnlyNeverTheCredentialOrThePath() {
        #expect(URLHost.of("https://hooks.example:8443/x?sig=secret#f") == "hooks.example:8443")
        #expect(URLHost.of("https://user:pa55@hooks.example/x") == "hooks.example")
        #expect(URLHost.of("http://[::1]:8080/") == "[::1]:8080")
        #expect(URLHost.of("not a url") == "?")
    }
}
