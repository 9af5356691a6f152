import Domain
import Foundation
import HTTP1
import HTTPServer

/// `/console`: the ops console's page and files, compiled into the binary, and its sign-in
/// (SPEC §17). The page reads the ops API with the session cookie, like any other client.
struct ConsoleRoutes: Sendable {
    let sessions: ConsoleSessions

    /// The console's files: path, media type and bytes.
    static let assets: [(path: String, type: String, bytes: [UInt8])] = [
        ("/console", "text/html; charset=utf-8", PackageResources.index_html),
        ("/console/console.js", "text/javascript; charset=utf-8", PackageResources.console_js),
        ("/console/console.css", "text/css; charset=utf-8", PackageResources.console_css),
        ("/console/favicon.svg", "image/svg+xml", PackageResources.favicon_svg),
    ]

    /// No script or style from anywhere but here, none inline, no framing, no form posting away.
    static let contentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    func register(on http: RouterBuilder) {
        for asset in Self.assets {
            let response = Self.page(asset.type, asset.bytes)
            http.get(asset.path) { _ in response }
        }
        http.add("POST", "/console/session") { request in try await signIn(request) }
        http.add("GET", "/console/session") { request in
            guard let session = try await sessions.session(request) else { throw APIError(.missingApiKey, "not signed in") }
            return Self.noStore(.jsonBytes(Self.describe(session).serializedBytes()))
        }
        http.add("DELETE", "/console/session") { request in try await signOut(request) }
    }

    private func signIn(_ request: Request) async throws -> HTTPResponse {
        // JSON only: a form on another site cannot post JSON without a CORS preflight, which
        // this server never grants, so nobody can sign a browser in to their own key.
        guard request.headers["content-type"]?.lowercased().hasPrefix("application/json") == true else {
            throw APIError(.invalidRequest, "sign in with a JSON body {\"key\": \"…\"} and Content-Type: application/json")
        }
        guard let body = try? JSONParser.parse(request.body), let key = body["key"]?.string, !key.isEmpty else {
            throw APIError(.missing("key"), "the body is {\"key\": \"<an API key>\"}", parameter: .one("key"))
        }
        let (session, cookie) = try await sessions.signIn(key: key, replacing: request)
        var response = Self.noStore(.jsonBytes(Self.describe(session).serializedBytes()))
        response.headers.add(name: "Set-Cookie", value: cookie)
        return response
    }

    private func signOut(_ request: Request) async throws -> HTTPResponse {
        if let session = try await sessions.session(request) {
            try ConsoleSessions.checkCSRF(request, session)
            try await sessions.signOut(session)
        }
        var response = HTTPResponse(status: HTTPStatus(204))
        response.headers.add(name: "Set-Cookie", value: sessions.expiredCookie)
        return response
    }

    private static func describe(_ session: ConsoleSessions.SignedIn) -> JSONValue {
        ["name": .string(session.principal.name), "role": .string(session.principal.role.rawValue),
         "csrfToken": .string(session.csrfToken), "expiresAt": .double(session.expiresAt)]
    }

    private static func noStore(_ response: HTTPResponse) -> HTTPResponse {
        var response = response
        response.headers.add(name: "Cache-Control", value: "no-store")
        return response
    }

    private static func page(_ type: String, _ bytes: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: HTTPHeaders([
            ("Content-Type", type), ("Content-Security-Policy", contentSecurityPolicy), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"), ("Cache-Control", "no-cache"),
        ]), bytes: bytes)
    }
}
