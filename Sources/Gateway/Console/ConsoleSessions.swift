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
    static let cookieName = "reelgate_console"
    static let csrfHeader = "x-csrf-token"

    let store: any TaskStore
    let authenticator: Authenticator
    let lifetime: Double
    /// Whether the public URL is https, checked when a cookie is made (`Secure` then).
    let secure: @Sendable () -> Bool
    let clock: @Sendable () -> Double

    /// A signed-in session as the console sees it.
    struct SignedIn: Sendable {
        let principal: Principal
        let csrfToken: String
        let expiresAt: Double
        let digest: String
    }

    /// Exchanges a key for a session; the reply sets its cookie.
    func signIn(key: String) async throws -> (SignedIn, cookie: String) {
        guard let (principal, fingerprint) = authenticator.authenticateWithFingerprint(key) else { throw APIError.invalidKey }
        let token = Crypto.hex(Crypto.randomBytes(32))
        let now = clock()
        let session = ConsoleSession(digest: Self.digest(token), keyName: principal.name, keyFingerprint: fingerprint,
                                     createdAt: now, expiresAt: now + lifetime)
        try await store.createConsoleSession(session)
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
        "\(Self.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure() ? "; Secure" : "")
    }

    /// The session token from `Cookie:`: 64 hex digits, or nothing (any other value is not ours).
    static func token(_ request: Request) -> String? {
        guard let header = request.headers["cookie"] else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = pair.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix(cookieName + "=") else { continue }
            let value = trimmed.dropFirst(cookieName.count + 1).prefix { $0 != " " && $0 != "\t" }
            guard value.utf8.count == 64, value.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
            return String(value)
        }
        return nil
    }

    private static func digest(_ token: String) -> String { Crypto.hex(Crypto.sha256(token)) }

    private static func csrfToken(for token: String) -> String {
        Crypto.hex(Crypto.hmacSHA256(key: Array(token.utf8), message: Array("reelgate console csrf".utf8)))
    }
}
