import Foundation

/// A database address as operators write it (`postgres://user:pass@host:port/db?sslmode=…`,
/// `postgresql://…`, or libpq `key=value` pairs), and the same with its password masked: the
/// only form that may reach a log, an error or `check-config`.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// What libpq is given (it accepts both forms).
    public let conninfo: String

    public init(_ conninfo: String) {
        self.conninfo = conninfo
    }

    public var description: String { redacted }

    /// Whether this is a PostgreSQL address at all (as opposed to a SQLite path, say).
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") || lower.contains("host=") || lower.contains("dbname=")
    }

    /// The password, as written (percent-encoded in a URL), if there is one.
    public var password: String? {
        if let (_, secret, _) = Self.urlPassword(conninfo) { return String(secret) }
        if let secret = Self.queryPasswords(conninfo).first { return secret }
        return Self.keywordPassword(conninfo).map { String($0.value) }
    }

    /// The address with its password replaced by `***`, in every form libpq takes: URL userinfo,
    /// a `password=` query parameter, a `password=` keyword (quoted or not).
    public var redacted: String {
        var text = conninfo
        if let (before, _, after) = Self.urlPassword(text) { text = before + "***" + after }
        text = Self.maskingQueryPasswords(text)
        while let (range, _) = Self.keywordPassword(text, masked: true) { text.replaceSubrange(range, with: "***") }
        return text
    }

    /// `scheme://user:PASSWORD@host…`: what comes before, the password, what comes after. The
    /// authority ends at the first `/` (libpq's rule: a `?` or `@` may sit in a password) and the
    /// password runs from the first `:` to the last `@` of it, so that whichever way a malformed
    /// address is read (libpq splits at the first `@`), no piece of it is left out.
    private static func urlPassword(_ text: String) -> (String, Substring, String)? {
        guard let scheme = text.range(of: "://") else { return nil }
        let rest = text[scheme.upperBound...]
        let authority = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return nil }
        let secret = authority[authority.index(after: colon)..<at]
        guard !secret.isEmpty else { return nil }
        return (String(text[..<secret.startIndex]), secret, String(text[at...]))
    }

    /// The password and, if it holds `@`, each piece of it: what log scrubbing must look for,
    /// since libpq may quote a piece of a malformed address in an error.
    public var secretPieces: [String] {
        guard let password else { return [] }
        let pieces = password.split(separator: "@").map(String.init).filter { $0.count >= 3 }
        return [password] + (pieces.count > 1 ? pieces : [])
    }

    /// A URL's query parameters named `password` however their name is spelled: libpq
    /// percent-decodes parameter names, so `?pass%77ord=…` is a password too.
    private static func maskingQueryPasswords(_ text: String) -> String {
        guard let (head, pairs) = queryPairs(text) else { return text }
        return head + pairs.map { name, value in isPasswordName(name) && value != nil ? name + "=***" : name + (value.map { "=" + $0 } ?? "") }
            .joined(separator: "&")
    }

    private static func queryPasswords(_ text: String) -> [String] {
        queryPairs(text)?.pairs.compactMap { name, value in isPasswordName(name) ? value : nil } ?? []
    }

    /// A URL's query as (name, value) pairs, and what precedes them (through the `?`).
    private static func queryPairs(_ text: String) -> (head: String, pairs: [(String, String?)])? {
        guard text.contains("://"), let question = text.firstIndex(of: "?") else { return nil }
        let pairs = text[text.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair -> (String, String?) in
            guard let equals = pair.firstIndex(of: "=") else { return (String(pair), nil) }
            return (String(pair[..<equals]), String(pair[pair.index(after: equals)...]))
        }
        return (String(text[...question]), pairs)
    }

    private static func isPasswordName(_ name: String) -> Bool { (name.removingPercentEncoding ?? name).lowercased() == "password" }

    /// The first `password=value` (keyword form, or a URL query parameter) whose value is not
    /// already `***`: its value's range.
    private static func keywordPassword(_ text: String, masked: Bool = false) -> (range: Range<String.Index>, value: Substring)? {
        var search = text.startIndex..<text.endIndex
        while let found = text.range(of: "password", options: .caseInsensitive, range: search) {
            search = found.upperBound..<text.endIndex
            // A keyword starts the text or follows a separator.
            if found.lowerBound != text.startIndex {
                let before = text[text.index(before: found.lowerBound)]
                guard before.isWhitespace || before == "?" || before == "&" else { continue }
            }
            var index = found.upperBound
            while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) }
            guard index < text.endIndex, text[index] == "=" else { continue }
            index = text.index(after: index)
            while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) }
            let start = index
            if index < text.endIndex, text[index] == "'" {
                // Quoted: up to the closing quote, backslash escapes included.
                index = text.index(after: index)
                while index < text.endIndex, text[index] != "'" {
                    if text[index] == "\\" { index = text.index(after: index) }
                    if index < text.endIndex { index = text.index(after: index) }
                }
                if index < text.endIndex { index = text.index(after: index) }
            } else {
                while index < text.endIndex, !text[index].isWhitespace, text[index] != "&" { index = text.index(after: index) }
            }
            let value = text[start..<index]
            if masked, value == "***" { continue }
            guard !value.isEmpty else { continue }
            return (start..<index, value)
        }
        return nil
    }
}
