/// The `host:port` part of a URL, for logs, errors and per-host limits: the path and query may
/// carry signatures and tokens, and never appear there.
public enum URLHost {
    public static func of(_ url: String) -> String {
        guard let range = url.range(of: "://") else { return "?" }
        let rest = url[range.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        // Userinfo is a credential: never shown.
        return String(authority.split(separator: "@", omittingEmptySubsequences: false).last ?? authority)
    }
}
