import Crypto
import Domain
import Foundation
import HTTP1
import HTTPServer
import Store

/// Console sign-in (SPEC §17): a key is exchanged once for a random session token carried in an
/// HttpOnly, SameSite=Strict cookie, so the key itself never sits in the browser.
///
/// The store keeps a digest of the token (every instance on a shared database knows the session;
/// a sign-out anywhere ends it). A request authenticated by the cookie that changes anything must
/// also carry `X-CSRF-Token`, derived from the token: a page of another site can make the browser
/// send the cookie (it cannot here, with SameSite=Strict, but older browsers ignore that), never
/// read the token to set the header.
struct ConsoleSessions: Sendable {
    /// Behind https the cookie is `__Host-` prefixed: the browser then takes it only with
    /// `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant one.
    static let cookieName = "reelgate_console"
    static let secureCookieName = "__Host-reelgate_console"
    static let csrfHeader = "x-csrf-token"
    /// Sessions one key may hold at once; signing in again past it ends the oldest.
    static let maxSessionsPerKey = 20

    let store: any TaskStore
    let authenticator: Authenticator
    let lifetime: Double
    /// Whether the public URL is https, checked when a cookie is made (`Secure` then).
    let secure: @Sendable () -> Bool
    let clock: @Sendable () -> Double
    /// Sign-ins per key and minute: a key is checked like a bearer key, but each sign-in is a row.
    let signIns = KeyRateLimiter(perMinute: 10)

    /// A signed-in session as the console sees it.
    struct SignedIn: Sendable {
        let principal: Principal
        let csrfToken: String
        let expiresAt: Double
        let digest: String
    }

    /// Exchanges a key for a session; the reply sets its cookie. A session the browser still
    /// holds (`replacing`) ends: signing in again never leaves the old one live.
    func signIn(key: String, replacing request: Request? = nil) async throws -> (SignedIn, cookie: String) {
        guard let (principal, fingerprint) = authenticator.authenticateWithFingerprint(key) else { throw APIError.invalidKey }
        if let wait = signIns.admit(principal.name, count: 1) {
            throw APIError(.rateLimitExceeded, "too many sign-ins with this key; retry in \(Int(wait.rounded(.up))) s", retryAfter: Int(wait.rounded(.up)))
        }
        if let request, let token = Self.token(request) { try await store.deleteConsoleSession(digest: Self.digest(token)) }
        let token = Crypto.hex(Crypto.randomBytes(32))
        let now = clock()
        let session = ConsoleSession(digest: Self.digest(token), keyName: principal.name, keyFingerprint: fingerprint,
                                     createdAt: now, expiresAt: now + lifetime)
        try await store.createConsoleSession(session, keepingAtMost: Self.maxSessionsPerKey)
        let signedIn = SignedIn(principal: principal, csrfToken: Self.csrfToken(for: token), expiresAt: session.expiresAt, digest: session.digest)
        return (signedIn, cookie(token, maxAge: Int(lifetime)))
    }

    /// The session the request's cookie names, if it is live and its key still configured.
    func session(_ request: Request) async throws -> SignedIn? {
        guard let token = Self.token(request) else { return nil }
        guard let session = try await store.consoleSession(digest: Self.digest(token)),
            let principal = authenticator.principal(named: session.keyName, fingerprint: session.keyFingerprint)
        else { return nil }
        return SignedIn(principal: principal, csrfToken: Self.csrfToken(for: token), expiresAt: session.expiresAt, digest: session.digest)
    }

    func signOut(_ session: SignedIn) async throws {
        try await store.deleteConsoleSession(digest: session.digest)
    }

    /// A `Set-Cookie` that removes the cookie from the browser.
    var expiredCookie: String { cookie("", maxAge: 0) }

    /// Throws unless the request carries the session's CSRF token.
    static func checkCSRF(_ request: Request, _ session: SignedIn) throws(APIError) {
        guard let presented = request.headers[csrfHeader],
            Crypto.constantTimeEquals(Array(presented.utf8), Array(session.csrfToken.utf8))
        else {
            throw APIError(.invalidCsrfToken, "a console request that changes state needs the session's X-CSRF-Token header")
        }
    }

    /// Whether a method may change state (and so needs the CSRF header).
    static func isUnsafe(_ method: String) -> Bool { !(method == "GET" || method == "HEAD" || method == "OPTIONS") }

    private func cookie(_ value: String, maxAge: Int) -> String {
        secure()
            ? "\(Self.secureCookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict; Secure"
            : "\(Self.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
    }

    /// The session token from `Cookie:`: the first well-formed value (64 hex digits) under either
    /// name; anything else there is not ours and is passed over.
    static func token(_ request: Request) -> String? {
        for header in request.headers.values("cookie") {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard let name = [secureCookieName, cookieName].first(where: { trimmed.hasPrefix($0 + "=") }) else { continue }
                let value = trimmed.dropFirst(name.count + 1).prefix { $0 != " " && $0 != "\t" }
                if value.utf8.count == 64, value.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) { return String(value) }
            }
        }
        return nil
    }

    static func digest(_ token: String) -> String { Crypto.hex(Crypto.sha256(token)) }

    private static func csrfToken(for token: String) -> String {
        Crypto.hex(Crypto.hmacSHA256(key: Array(token.utf8), message: Array("reelgate console csrf".utf8)))
    }
}
