import Crypto
import HTTP1
import Domain
import Store

/// Who is calling: the key's name and role.
public struct Principal: Sendable, Equatable {
    public let name: String
    public let role: Configuration.Role
    public var isOps: Bool { role == .ops }
}

/// Checks API keys: the presented key's SHA-256 is compared in constant time with every
/// configured key's digest, so neither timing nor the key's length leaks which prefix matched.
public struct Authenticator: Sendable {
    private let keys: [(digest: [UInt8], fingerprint: [UInt8], principal: Principal)]

    public init(keys: [Configuration.APIKey]) {
        self.keys = keys.map { key in
            let digest = Crypto.sha256(key.key)
            return (digest, Array(Self.fingerprint(digest).utf8), Principal(name: key.name, role: key.role))
        }
    }

    public func authenticate(_ presented: String) -> Principal? {
        match(presented)?.principal
    }

    /// The key's principal and a fingerprint of the key (a digest of its digest), which a console
    /// session keeps so that it ends when the key is replaced, even under the same name.
    public func authenticateWithFingerprint(_ presented: String) -> (principal: Principal, fingerprint: String)? {
        match(presented).map { ($0.principal, String(decoding: $0.fingerprint, as: UTF8.self)) }
    }

    private func match(_ presented: String) -> (principal: Principal, fingerprint: [UInt8])? {
        let digest = Crypto.sha256(presented)
        var match: (principal: Principal, fingerprint: [UInt8])?
        for key in keys where Crypto.constantTimeEquals(key.digest, digest) { match = (key.principal, key.fingerprint) }
        return match
    }

    /// The principal of a configured key with this name and fingerprint, if it still exists.
    public func principal(named name: String, fingerprint: String) -> Principal? {
        let presented = Array(fingerprint.utf8)
        var match: Principal?
        for key in keys where key.principal.name == name && Crypto.constantTimeEquals(key.fingerprint, presented) {
            match = key.principal
        }
        return match
    }

    private static func fingerprint(_ digest: [UInt8]) -> String { Crypto.hex(Crypto.sha256(digest)) }

    /// The key from `Authorization: Bearer <key>` (scheme case-insensitive, spaces and tabs
    /// around the key dropped). Byte by byte: this runs on every authenticated request.
    public static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        var start = bytes.startIndex
        while start != bytes.endIndex, bytes[start] == UInt8(ascii: " ") { start = bytes.index(after: start) }
        guard let space = bytes[start...].firstIndex(of: UInt8(ascii: " ")), bytes.distance(from: start, to: space) == 6,
              zip(bytes[start..<space], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        var key = bytes[bytes.index(after: space)...]
        while let first = key.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { key = key.dropFirst() }
        while let last = key.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { key = key.dropLast() }
        return key.isEmpty ? nil : String(Substring(key))
    }
}
