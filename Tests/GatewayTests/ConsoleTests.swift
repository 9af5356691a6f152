import Domain
import Foundation
@testable import Gateway
import HTTPServer
import SQLiteStore
import HTTP1
import TestSupport
import Testing

/// The ops console's server side (SPEC §17): its page and headers, the sign-in session, CSRF, and
/// the overview endpoints. The browser flows are in Tests/conformance/test_console.py.
@Suite("console", .timeLimit(.minutes(2)), .stopsGateways)
struct ConsoleTests {
    static let json = "Content-Type: application/json"

    /// Signs in with `key`: the cookie pair (`reelgate_console=…`) and the session's CSRF token.
    func signIn(_ gw: TestGateway, _ key: String) async throws -> (cookie: String, csrf: String, setCookie: String) {
        let reply = try await gw.request("POST", "/console/session", body: #"{"key":"\#(key)"}"#, key: nil, headers: [Self.json])
        #expect(reply.status == 200)
        let setCookie = try #require(reply.headers["set-cookie"])
        return (String(setCookie.prefix { $0 != ";" }), try #require(reply.body["csrfToken"]?.string), setCookie)
    }

    @Test func thePageIsEmbeddedWithAStrictPolicyAndNoInlineScript() async throws {
        let gw = try await TestGateway.start()
        for path in ["/console", "/console/console.js", "/console/console.css", "/console/favicon.svg"] {
            let page = try await gw.fetch(path)
            #expect(page.status == 200, "\(path)")
            #expect(page.headers["content-security-policy"]?.hasPrefix("default-src 'self'") == true)
            #expect(page.headers["x-content-type-options"] == "nosniff")
            #expect(page.headers["x-frame-options"] == "DENY")
        }
        let html = try await gw.fetch("/console").bodyText
        #expect(html.contains(#"<script src="/console/console.js" defer></script>"#))
        // No inline script, event handler or style attribute: the policy would block them, and
        // their absence is what makes the policy safe to keep.
        #expect(html.components(separatedBy: "<script").count == 2)
        #expect(html.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil)
        #expect(html.range(of: #"\sstyle\s*="#, options: .regularExpression) == nil)
        // The script never turns data into markup.
        let script = try await gw.fetch("/console/console.js").bodyText
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            #expect(!script.contains(sink), "console.js uses \(sink)")
        }
        // What it weighs, all files together (the README quotes it).
        let total = try await ["/console", "/console/console.js", "/console/console.css", "/console/favicon.svg"].asyncMap { try await gw.fetch($0).body.count }.reduce(0, +)
        #expect(total < 64 * 1024)
    }

    @Test func aKeyBecomesAnHttpOnlyStrictCookieThatStandsInForTheKey() async throws {
        let gw = try await TestGateway.start()
        let (cookie, csrf, setCookie) = try await signIn(gw, TestGateway.alice)
        let attributes = setCookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict") && attributes.contains("Path=/"))
        #expect(attributes.contains("Max-Age=43200"))
        #expect(!attributes.contains("Secure"))  // plain http here
        #expect(!setCookie.contains(TestGateway.alice))

        let (mine, _) = try await gw.submit()
        let (bobs, _) = try await gw.submit(key: TestGateway.bob)
        #expect(try await gw.request("GET", "/v1/tasks/\(mine)", key: nil, headers: ["Cookie: \(cookie)"]).status == 200)
        // A client key's session sees what the key sees: not another key's task.
        #expect(try await gw.request("GET", "/v1/tasks/\(bobs)", key: nil, headers: ["Cookie: \(cookie)"]).status == 404)
        let list = try await gw.request("GET", "/v1/tasks?apiKey=bob", key: nil, headers: ["Cookie: other=1; \(cookie)"])
        #expect(list.body["tasks"]?.array?.map { $0["apiKey"]?.string } == ["alice"])

        // The session says who it is, and gives its CSRF token back (the page keeps it in memory only).
        let me = try await gw.request("GET", "/console/session", key: nil, headers: ["Cookie: \(cookie)"])
        #expect(me.status == 200 && me.body["name"] == "alice" && me.body["role"] == "client" && me.body["csrfToken"]?.string == csrf)
        #expect(me.headers["cache-control"] == "no-store")

        // Changing state needs the token; a wrong one is refused like a missing one.
        let bare = try await gw.request("POST", "/v1/tasks/\(mine)/cancel", key: nil, headers: ["Cookie: \(cookie)"])
        #expect(bare.status == 403 && bare.errors.first?["code"] == "invalidCsrfToken")
        let wrong = try await gw.request("POST", "/v1/tasks/\(mine)/cancel", key: nil, headers: ["Cookie: \(cookie)", "X-CSRF-Token: \(String(csrf.reversed()))"])
        #expect(wrong.status == 403)
        let good = try await gw.request("POST", "/v1/tasks/\(mine)/cancel", key: nil, headers: ["Cookie: \(cookie)", "X-CSRF-Token: \(csrf)"])
        #expect(good.status == 200)
        // Nor can a session submit paid work: the task API takes keys.
        let submit = try await gw.request("POST", "/v1", body: #"[{"taskType":"videoInference","taskUUID":"\#(UUID().uuidString.lowercased())","model":"reelgate:simulator@1","positivePrompt":"x"}]"#,
                                          key: nil, headers: ["Cookie: \(cookie)", "X-CSRF-Token: \(csrf)", Self.json])
        #expect(submit.status == 401)
    }

    @Test func signOutEndsTheSessionOnTheServer() async throws {
        let gw = try await TestGateway.start()
        let (cookie, csrf, _) = try await signIn(gw, TestGateway.opsKey)
        #expect(try await gw.request("GET", "/v1/tasks", key: nil, headers: ["Cookie: \(cookie)"]).status == 200)
        // Sign-out is a state change: not without the token (a page elsewhere cannot sign you out).
        #expect(try await gw.request("DELETE", "/console/session", key: nil, headers: ["Cookie: \(cookie)"]).status == 403)
        let out = try await gw.request("DELETE", "/console/session", key: nil, headers: ["Cookie: \(cookie)", "X-CSRF-Token: \(csrf)"])
        #expect(out.status == 204 && out.headers["set-cookie"]?.contains("Max-Age=0") == true)
        let after = try await gw.request("GET", "/v1/tasks", key: nil, headers: ["Cookie: \(cookie)"])
        #expect(after.status == 401 && after.errors.first?["code"] == "invalidApiKey")
        #expect(try await gw.request("GET", "/console/session", key: nil, headers: ["Cookie: \(cookie)"]).status == 401)
    }

    @Test func signInRefusesBadKeysAndNonJSONBodies() async throws {
        let gw = try await TestGateway.start()
        let bad = try await gw.request("POST", "/console/session", body: #"{"key":"nope"}"#, key: nil, headers: [Self.json])
        #expect(bad.status == 401 && bad.headers["set-cookie"] == nil)
        // A form post (what a page on another site can make a browser send) is not a sign-in.
        let form = try await gw.request("POST", "/console/session", body: "key=\(TestGateway.opsKey)", key: nil,
                                        headers: ["Content-Type: application/x-www-form-urlencoded"])
        #expect(form.status == 400 && form.headers["set-cookie"] == nil)
        let empty = try await gw.request("POST", "/console/session", body: "{}", key: nil, headers: [Self.json])
        #expect(empty.status == 400 && empty.errors.first?["code"] == "missingKey")
        // A cookie that is not one of ours is no session, and says so like a missing key.
        let forged = try await gw.request("GET", "/v1/tasks", key: nil, headers: ["Cookie: reelgate_console=\(String(repeating: "a", count: 64))"])
        #expect(forged.status == 401)
        let junk = try await gw.request("GET", "/v1/tasks", key: nil, headers: ["Cookie: reelgate_console=../../etc"])
        #expect(junk.status == 401 && junk.errors.first?["code"] == "missingApiKey")
    }

    @Test func theCookieIsSecureBehindHttps() async throws {
        let gw = try await TestGateway.start { $0.publicURL = "https://videos.example.com" }
        let (_, _, setCookie) = try await signIn(gw, TestGateway.opsKey)
        #expect(setCookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.contains("Secure"))
        // Prefixed: a browser takes such a cookie only from a secure origin, for the whole host.
        #expect(setCookie.hasPrefix("__Host-reelgate_console=") && setCookie.contains("Path=/") && !setCookie.contains("Domain"))
        let cookie = String(setCookie.prefix { $0 != ";" })
        #expect(try await gw.request("GET", "/console/session", key: nil, headers: ["Cookie: \(cookie)"]).status == 200)
    }

    @Test func signingInAgainEndsTheSessionTheBrowserHeldAndSignInsAreRateLimited() async throws {
        let gw = try await TestGateway.start()
        let (first, _, _) = try await signIn(gw, TestGateway.alice)
        let again = try await gw.request("POST", "/console/session", body: #"{"key":"\#(TestGateway.alice)"}"#, key: nil,
                                         headers: [Self.json, "Cookie: \(first)"])
        #expect(again.status == 200)
        #expect(try await gw.request("GET", "/console/session", key: nil, headers: ["Cookie: \(first)"]).status == 401)
        // A junk cookie before the real one does not hide it.
        let second = String(try #require(again.headers["set-cookie"]).prefix { $0 != ";" })
        #expect(try await gw.request("GET", "/console/session", key: nil, headers: ["Cookie: reelgate_console=junk; \(second)"]).status == 200)
        // Ten a minute: the first ten pass, then a refusal — before the next token, unless the
        // machine is so loaded that requests take seconds each (CI once took over 6 s for two),
        // so it keeps trying a while rather than at exactly the twelfth.
        var statuses: [Int] = []
        while statuses.count < 40, statuses.last != 429 {
            statuses.append(try await gw.request("POST", "/console/session", body: #"{"key":"\#(TestGateway.bob)"}"#, key: nil, headers: [Self.json]).status)
        }
        #expect(statuses.prefix(10).allSatisfy { $0 == 200 } && statuses.last == 429, "\(statuses)")
    }

    @Test func aSessionEndsWhenItsKeyIsReplacedOrItExpires() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let path = dir.file("t.db")
        let store = try await BlockingIO.run { try SQLiteTaskStore(path: path, clock: { clock.now }) }
        let keys: [Configuration.APIKey] = [.init(name: "alice", key: "alice-key-0123456789abcd", role: .client)]
        let sessions = ConsoleSessions(store: store, authenticator: Authenticator(keys: keys), lifetime: 60, secure: { false }, clock: { clock.now })
        let (_, cookie) = try await sessions.signIn(key: "alice-key-0123456789abcd")
        let request = Request(head: HTTPRequestHead(method: "GET", target: "/v1/tasks",
                                                    headers: HTTPHeaders([("Cookie", String(cookie.prefix { $0 != ";" }))])))
        #expect(try await sessions.session(request)?.principal.name == "alice")
        // The same store and name, another key (a rotation): the session was the old key's.
        let rotated = ConsoleSessions(store: store, authenticator: Authenticator(keys: [.init(name: "alice", key: "alice-rotated-0123456789", role: .client)]),
                                      lifetime: 60, secure: { false }, clock: { clock.now })
        #expect(try await rotated.session(request) == nil)
        // And it ends on its own after its lifetime.
        clock.now += 61
        #expect(try await sessions.session(request) == nil)
    }

    @Test func overviewShowsProviderHealthToOpsAndEachKeyItsOwnNumbers() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit()
        _ = try await gw.waitUntilDone(uuid)
        let providers = try await gw.request("GET", "/v1/providers", key: TestGateway.opsKey)
        let simulator = try #require(providers.body["providers"]?.array?.first { $0["name"] == "simulator" })
        #expect(simulator["breaker"]?["state"] == "closed" && simulator["inFlight"] == 0)
        #expect(simulator["budget"]?["requestsPerMinute"]?.integer != nil)
        #expect(try await gw.request("GET", "/v1/providers").status == 403)  // a client key

        let mine = try await gw.request("GET", "/v1/stats?windowSeconds=600")
        #expect(mine.body["submitted"] == 1 && mine.body["successRate"] == 1.0 && mine.body["byState"]?["succeeded"] == 1)
        #expect((mine.body["latencySeconds"]?["p50"]?.number ?? 0) > 0)
        let bobs = try await gw.request("GET", "/v1/stats", key: TestGateway.bob)
        #expect(bobs.body["submitted"] == 0 && bobs.body["successRate"] == .null)
        let bad = try await gw.request("GET", "/v1/stats?windowSeconds=5")
        #expect(bad.status == 400 && bad.errors.first?["code"] == "invalidWindowSeconds")
    }

    @Test func aListedTaskCarriesItsCost() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit(["includeCost": true])
        _ = try await gw.waitUntilDone(uuid)
        let list = try await gw.request("GET", "/v1/tasks", key: TestGateway.opsKey)
        let listed = try #require(list.body["tasks"]?.array?.first { $0["taskUUID"]?.string == uuid })
        let shown = try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        #expect(listed["cost"] != nil && listed["cost"] == shown.body["cost"])
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
