import Crypto
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

    /// The key from `Authorization: Bearer <key>`.
    public static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        // Trimmed of spaces and tabs (RFC 9110 OWS) without Foundation: this runs on every request.
        var key = parts[1]
        while let first = key.first, first == " " || first == "\t" { key.removeFirst() }
        while let last = key.last, last == " " || last == "\t" { key.removeLast() }
        return key.isEmpty ? nil : String(key)
    }
}
