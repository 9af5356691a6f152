/// Resolves host names; a seam so tests can make a name resolve anywhere (DNS rebinding).
public protocol HostResolver: Sendable {
    func resolve(_ host: String) async throws -> [IPAddress]
}

/// Why an outbound URL was refused.
public struct URLRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A URL that passed every check, with the address to connect to (pinned, SPEC §7).
public struct CheckedURL: Sendable, Equatable {
    public let url: String
    public let scheme: String
    public let host: String
    public let port: Int
    /// The checked address; the connection must go there and nowhere else.
    public let address: IPAddress
}

/// The outbound URL rules of SPEC §7, for webhooks, uploads and every input URL fetched.
///
/// https only (http when allowed); no userinfo; at most 2048 characters; a host that is a
/// canonical IP literal or a DNS name (numeric spellings such as `2130706433`, `0x7f.1` or
/// `0177.0.0.1` are refused outright rather than guessed at); every address the name resolves to
/// must be public, IPv4 embedded in IPv6 included. `allowHosts` names hosts or CIDRs exempt from
/// the private-address rule.
public struct URLGuard: Sendable {
    public var allowHTTP: Bool
    public var allowHosts: [String]
    public let resolver: any HostResolver

    public init(allowHTTP: Bool, allowHosts: [String], resolver: any HostResolver) {
        self.allowHTTP = allowHTTP
        self.allowHosts = allowHosts
        self.resolver = resolver
    }

    public struct Parsed: Sendable, Equatable {
        public let scheme: String
        public let host: String
        public let port: Int
        /// Set when the host is an IP literal.
        public let literal: IPAddress?
    }

    /// The syntactic checks, without DNS: usable at validation time.
    public func parse(_ url: String) throws(URLRefusal) -> Parsed {
        guard url.utf8.count <= 2048 else { throw URLRefusal("the URL is longer than 2048 characters") }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw URLRefusal("the URL contains spaces, control or non-ASCII characters")
        }
        guard let schemeEnd = url.range(of: "://") else { throw URLRefusal("the URL has no scheme") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || (scheme == "http" && allowHTTP) else {
            throw URLRefusal(allowHTTP ? "only http and https URLs are allowed" : "only https URLs are allowed")
        }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.utf8.contains(UInt8(ascii: "@")) else { throw URLRefusal("credentials in the URL (userinfo) are not allowed") }
        guard !authority.utf8.contains(UInt8(ascii: "\\")), !authority.isEmpty else { throw URLRefusal("the URL has no valid host") }

        var hostPart = Substring(authority)
        var port = scheme == "https" ? 443 : 80
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw URLRefusal("unterminated IPv6 literal") }
            let after = hostPart[hostPart.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw URLRefusal("invalid port") }
                port = p
            }
            let inner = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            guard let v6 = IPAddress(literal: inner), case .v6 = v6 else { throw URLRefusal("invalid IPv6 literal") }
            return Parsed(scheme: scheme, host: inner.lowercased(), port: port, literal: v6)
        }
        if let colon = hostPart.lastIndex(of: ":") {
            let text = hostPart[hostPart.index(after: colon)...]
            guard !text.isEmpty, text.allSatisfy(\.isNumber), let p = Int(text), (1...65535).contains(p) else { throw URLRefusal("invalid port") }
            port = p
            hostPart = hostPart[..<colon]
        }
        var host = hostPart.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        guard !host.isEmpty else { throw URLRefusal("the URL has no host") }
        if let v4 = IPAddress.parseDottedDecimal(host) {
            return Parsed(scheme: scheme, host: host, port: port, literal: .v4(v4))
        }
        if IPAddress.parseLenientIPv4(host) != nil || host.allSatisfy({ $0.isNumber || $0 == "." }) {
            throw URLRefusal("numeric host \(host) is not a canonical IPv4 address")
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard host.count <= 253, labels.allSatisfy({ label in
            (1...63).contains(label.count) && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
                && !label.hasPrefix("-") && !label.hasSuffix("-")
        }) else { throw URLRefusal("invalid host name \(host)") }
        if host == "localhost" || host.hasSuffix(".localhost") { throw URLRefusal("\(host) is a loopback name") }
        return Parsed(scheme: scheme, host: host, port: port, literal: nil)
    }

    /// Every check, DNS included; returns the address to pin the connection to.
    public func check(_ url: String) async throws(URLRefusal) -> CheckedURL {
        let parsed = try parse(url)
        let hostAllowed = allowHosts.contains { $0.lowercased() == parsed.host }
        var addresses: [IPAddress]
        if let literal = parsed.literal {
            addresses = [literal]
        } else {
            do {
                addresses = try await resolver.resolve(parsed.host)
            } catch {
                throw URLRefusal("host \(parsed.host) does not resolve")
            }
            guard !addresses.isEmpty else { throw URLRefusal("host \(parsed.host) does not resolve") }
        }
        for address in addresses where !hostAllowed && !address.isPublic && !allowHosts.contains(where: { address.isIn(cidr: $0) }) {
            throw URLRefusal(parsed.literal == nil
                ? "host \(parsed.host) resolves to a non-public address (\(address))"
                : "address \(address) is not a public address")
        }
        return CheckedURL(url: url, scheme: parsed.scheme, host: parsed.host, port: parsed.port, address: addresses[0])
    }
}

extension StringProtocol {
    fileprivate func range(of needle: String) -> Range<Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

extension URLGuard {
    /// The Runware error for a refused URL in `parameter` (SPEC §7 names the codes).
    public static func apiError(_ refusal: URLRefusal, parameter: String) -> APIErrorItem {
        APIErrorItem(code: .refusedURL(in: parameter), message: "\(parameter) refused: \(refusal.reason)", parameter: .one(parameter))
    }
}
