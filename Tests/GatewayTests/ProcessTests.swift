import Foundation
import Glibc
import Postgres
import TestSupport
import Testing

/// The real binary, as ops run it.
@Suite("reelgate binary", .timeLimit(.minutes(2)))
struct ProcessTests {
    @Test func servesHealthAndStopsCleanlyOnSIGTERM() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let gateway = try GatewayProcess(environment: ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.path], workingDirectory: dir.path)
        let port = try await gateway.waitForListening()
        let client = try RawHTTPClient(port: port)
        try await client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let health = try await client.readResponse()
        #expect(health.status == 200)
        #expect(health.bodyText == #"{"status":"ok"}"#)
        try await client.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await client.readResponse().status == 200)
        try await client.send("GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        let missing = try await client.readResponse()
        #expect(missing.status == 404)
        #expect(missing.bodyText.hasPrefix(#"{"errors":[{"code":"notFound""#))
        #expect(FileManager.default.fileExists(atPath: dir.file("reelgate.db")))

        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
        #expect(gateway.terminationReason == .exit)
        try await gateway.waitForLog("\"msg\":\"stopped\"")
    }

    @Test func sigtermLetsAnInFlightRequestFinish() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        // No minimum body rate and a long grace: on a loaded machine the rest of the body may come
        // more than the rate's 5 s grace (or the default 10 s drain) after its start, and a 408 or
        // a close would be right; this test is about a drain letting the request finish. A long
        // idle timeout too: the idle connection's close must mean the drain began. (A run under
        // triple load once answered the in-flight request without `Connection: close` after 17 s;
        // the default 15 s idle timeout closing the idle one first is the likeliest reading.)
        try Data(#"{"server":{"minBodyBytesPerSecond":0,"shutdownGraceSeconds":60,"idleTimeoutSeconds":300}}"#.utf8)
            .write(to: URL(fileURLWithPath: dir.file("config.json")))
        let gateway = try GatewayProcess(arguments: ["serve", "--config", dir.file("config.json")],
                                         environment: ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.path], workingDirectory: dir.path)
        let port = try await gateway.waitForListening()
        // A request in flight: its head and half its body are in, the rest comes after SIGTERM.
        let inFlight = try RawHTTPClient(port: port)
        try await inFlight.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        let idle = try RawHTTPClient(port: port)
        try await idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await idle.readResponse().status == 200)

        gateway.signal(SIGTERM)
        try await gateway.waitForLog("\"msg\":\"draining\"")
        #expect(try await idle.waitForClose())  // idle keep-alive connections close at once
        try await inFlight.send("56789")
        let response = try await inFlight.readResponse()
        #expect(response.status == 405)  // the route is GET-only, but the request was answered in full
        #expect(response.headers["connection"] == "close")
        #expect(try await gateway.waitForExit() == 0)
    }

    /// A SIGTERM while the gateway is still starting stops it at once, even when starting waits
    /// without limit: here on the migration lock another instance holds. (Nothing has been
    /// accepted yet; the signals are armed for a drain only before the listener accepts.)
    @Test(.enabled(if: PostgresTestDatabase.serverURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
    func sigtermWhileStartingWaitsOnAMigrationLockStopsAtOnce() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let holder = SessionBox(try PostgresConnection(database.url))
        // reelgate's migration lock key ("reelgate"), taken as another instance migrating would.
        try await OffPool.run { _ = try holder.session.execute("SELECT pg_advisory_lock(8243106209236874341)") }
        let dir = TempDirectory()
        defer { dir.remove() }
        let gateway = try GatewayProcess(environment: [
            "REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.path, "REELGATE_DATABASE_URL": database.url.conninfo,
        ], workingDirectory: dir.path)
        // Observed, not guessed: the gateway's session waits for the lock.
        var waiting = false
        for _ in 0..<600 where !waiting {
            waiting = try await OffPool.run {
                try holder.session.execute("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").allRows.first?.int("n") ?? 0
            } > 0
            if !waiting { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(waiting)
        gateway.signal(SIGTERM)
        _ = try await gateway.waitForExit(timeout: 10)
        #expect(gateway.terminationReason == .uncaughtSignal)
        try await OffPool.run { _ = try holder.session.execute("SELECT pg_advisory_unlock_all()") }
    }

    @Test func sigintAlsoStopsCleanly() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let gateway = try GatewayProcess(environment: ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.path], workingDirectory: dir.path)
        _ = try await gateway.waitForListening()
        gateway.signal(SIGINT)
        #expect(try await gateway.waitForExit() == 0)
    }

    @Test func refusesToListenBeyondLoopbackWithoutAKey() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let gateway = try GatewayProcess(
            environment: ["REELGATE_LISTEN": "0.0.0.0:0", "REELGATE_DATA_DIR": dir.path], workingDirectory: dir.path)
        #expect(try await gateway.waitForExit() == 2)
        #expect(gateway.standardError.contains("refusing to listen on 0.0.0.0:0 without an API key"))
        #expect(!gateway.standardOutput.contains("listening"))
        // The shipped example config's key is refused beyond loopback too.
        let example = try GatewayProcess(
            arguments: ["serve", "--config", GatewayProcess.packageRoot + "/config/reelgate.json"],
            environment: ["REELGATE_LISTEN": "0.0.0.0:0", "REELGATE_DATA_DIR": dir.path], workingDirectory: dir.path)
        #expect(try await example.waitForExit() == 2)
        #expect(example.standardError.contains("with the example API key"))
    }

    @Test func checkConfigPrintsTheEffectiveConfigWithSecretsMasked() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("config.json")
        try #"{"providers":{"taskapi":[{"name":"agg","baseURL":"https://agg.example","apiKey":"taskapi-secret-value"}]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["check-config", "--config", path], environment: [
            "REELGATE_API_KEYS": "ops:very-secret-api-key:ops", "GEMINI_API_KEY": "gemini-secret-value",
            "REELGATE_WEBHOOK_SECRET": "whsec_c2VjcmV0dmFsdWUtc2VjcmV0dmFsdWU=",
        ], workingDirectory: dir.path)
        #expect(try await gateway.waitForExit() == 0)
        let out = gateway.standardOutput
        #expect(out.contains("\"listen\""))
        #expect(out.contains("\"name\" : \"ops\""))
        #expect(out.contains("\"name\" : \"agg\""))
        for secret in ["very-secret-api-key", "gemini-secret-value", "c2VjcmV0dmFsdWUtc2VjcmV0dmFsdWU", "taskapi-secret-value"] {
            #expect(!out.contains(secret), "check-config printed \(secret)")
        }
        // A key in the role's place is not echoed by the error either.
        let bad = try GatewayProcess(arguments: ["check-config"], environment: ["REELGATE_API_KEYS": "app:ops:sk-live-key-0123456789abcdef"],
                                     workingDirectory: dir.path)
        #expect(try await bad.waitForExit() == 2)
        #expect(!bad.standardError.contains("sk-live") && !bad.standardOutput.contains("sk-live"))
        #expect(bad.standardError.contains("REELGATE_API_KEYS entry 1"))
    }

    /// Started with umask 000, the gateway still keeps its data private: the directory 0700, the
    /// database, its WAL and every stored video and image 0600.
    @Test func dataStaysPrivateWhateverTheUmask() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let data = dir.file("data")
        let key = "ops-key-0123456789abcdef"
        let gateway = try GatewayProcess(environment: [
            "REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": data, "REELGATE_API_KEYS": "ops:\(key):ops",
        ], workingDirectory: dir.path, umask: 0)
        let port = try await gateway.waitForListening()
        func post(_ body: String) async throws -> RawResponse {
            let client = try RawHTTPClient(port: port)
            try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(key)\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            return try await client.readResponse()
        }
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        #expect(try await post(#"[{"taskType":"imageUpload","taskUUID":"\#(UUID().uuidString.lowercased())","image":"\#(png)"}]"#).status == 200)
        let task = UUID().uuidString.lowercased()
        #expect(try await post(#"[{"taskType":"videoInference","taskUUID":"\#(task)","model":"reelgate:simulator@1","positivePrompt":"private"}]"#).status == 200)
        try await gateway.waitForLog("\"msg\":\"succeeded\"")
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return lstat(path, &info) == 0 ? info.st_mode & 0o777 : 0o7777
        }
        #expect(mode(data) == 0o700)
        var files = 0, directories = 0
        for name in FileManager.default.enumerator(atPath: data)?.allObjects as? [String] ?? [] {
            var info = stat()
            guard lstat("\(data)/\(name)", &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                directories += 1
                #expect(info.st_mode & 0o777 == 0o700, "\(name) is \(String(info.st_mode & 0o777, radix: 8))")
            } else {
                files += 1
                #expect(info.st_mode & 0o777 == 0o600, "\(name) is \(String(info.st_mode & 0o777, radix: 8))")
            }
        }
        #expect(files >= 3 && directories >= 2)  // db (+ wal), a video, an image; media/, images/
    }

    @Test func invalidConfigFileIsAClearError() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("bad.json")
        try #"{"listen":"127.0.0.1:0","webhook":{}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["serve", "--config", path], environment: [:], workingDirectory: dir.path)
        #expect(try await gateway.waitForExit() == 2)
        #expect(gateway.standardError.contains("unknown configuration key webhook"))
        let missing = try GatewayProcess(arguments: ["serve", "--config", dir.file("nope.json")], environment: [:], workingDirectory: dir.path)
        #expect(try await missing.waitForExit() == 2)
        #expect(missing.standardError.contains("does not exist"))
    }

    @Test func version() async throws {
        let gateway = try GatewayProcess(arguments: ["version"], environment: [:])
        #expect(try await gateway.waitForExit() == 0)
        #expect(gateway.standardOutput.hasPrefix("reelgate 0."))
    }
}

@Suite("logs", .timeLimit(.minutes(2)))
struct LogTests {
    @Test func logsAreJSONLinesWithTaskIdsAndNeverSecrets() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let secrets = ["client-secret-key-0123456789", "ops-secret-key-0123456789", "whsec_c2VjcmV0LXNpZ25pbmcta2V5", "gemini-secret-api-key-42"]
        let receiver = try Receiver(statuses: [500])
        let config = dir.file("config.json")
        try #"{"providers":{"simulator":{"latencySeconds":0.1},"gemini":{"baseURL":"http://127.0.0.1:1","pollIntervalSeconds":0.05}},"network":{"allowHTTP":true,"allowHosts":["127.0.0.1/32"]},"webhooks":{"retrySchedule":[0.05]},"workers":{"retryBaseSeconds":0.05,"retryMaxSeconds":0.1,"maxAttempts":2}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: [
            "REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.file("data"),
            "REELGATE_API_KEYS": "app:\(secrets[0]):client,ops:\(secrets[1]):ops", "REELGATE_WEBHOOK_SECRET": secrets[2], "GEMINI_API_KEY": secrets[3],
        ], workingDirectory: dir.path)
        let port = try await gateway.waitForListening()
        func post(_ body: String, key: String) async throws -> RawResponse {
            let client = try RawHTTPClient(port: port)
            try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(key)\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            return try await client.readResponse()
        }
        // A success with a webhook (retried once), a Gemini task failing against a dead upstream, a bad key.
        let ok = UUID().uuidString.lowercased(), bad = UUID().uuidString.lowercased()
        _ = try await post(#"[{"taskType":"videoInference","taskUUID":"\#(ok)","model":"reelgate:simulator@1","positivePrompt":"log me","webhookURL":"http://127.0.0.1:\#(receiver.server.port)/hook"}]"#, key: secrets[0])
        _ = try await post(#"[{"taskType":"videoInference","taskUUID":"\#(bad)","model":"google:gemini@omni-flash","positivePrompt":"fail me"}]"#, key: secrets[0])
        #expect(try await post(#"[{"taskType":"ping"}]"#, key: "wrong-\(secrets[1])").status == 401)
        try await gateway.waitForLog("\"msg\":\"delivered\"")
        try await gateway.waitForLog("\"task\":\"\(bad)\"")
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
        let log = gateway.standardError
        for secret in secrets { #expect(!log.contains(secret), "a secret reached the log") }
        for line in log.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["ts"] != nil && object?["level"] != nil && object?["msg"] != nil, "\(line)")
        }
        #expect(log.split(separator: "\n").contains { $0.contains("\"msg\":\"delivered\"") && $0.contains("\"task\":\"\(ok)\"") && $0.contains("\"result\":") })
    }
}

/// Inline video replies are streamed from disk by the real binary: 100 getResponse items of a
/// 4-result base64Data task (7.5 MB of JSON) do not raise the process's peak memory by more
/// than a few MB (issue 10, point 3).
@Suite("inline replies in the real binary", .timeLimit(.minutes(2)))
struct InlineReplyProcessTests {
    @Test func aLargeInlineReplyDoesNotGrowThePeakMemory() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let key = "ops-key-0123456789abcdef"
        let config = dir.file("config.json")
        try #"{"providers":{"simulator":{"latencySeconds":0.05}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: [
            "REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.file("data"), "REELGATE_API_KEYS": "ops:\(key):ops",
        ], workingDirectory: dir.path)
        let port = try await gateway.waitForListening()
        func post(_ body: String) async throws -> RawResponse {
            let client = try RawHTTPClient(port: port)
            try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(key)\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            return try await client.readResponse()
        }
        let task = UUID().uuidString.lowercased()
        _ = try await post(#"[{"taskType":"videoInference","taskUUID":"\#(task)","model":"reelgate:simulator@1","positivePrompt":"inline","numberResults":4,"outputType":"base64Data"}]"#)
        let poll = #"{"taskType":"getResponse","taskUUID":"\#(task)"}"#
        var first = try await post("[\(poll)]")
        for _ in 0..<400 where first.bodyContains("processing") {
            try await Task.sleep(for: .milliseconds(25))
            first = try await post("[\(poll)]")
        }
        #expect(first.bodyContains("videoBase64Data"))
        func peakKB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(gateway.process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let before = peakKB()
        let reply = try await post("[" + Array(repeating: poll, count: 100).joined(separator: ",") + "]")
        #expect(reply.status == 200)
        #expect(reply.body.count > 7_000_000)
        let growth = peakKB() - before
        #expect(growth < 5_000, "peak RSS grew by \(growth) KB for a \(reply.body.count)-byte reply")
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }
}

/// One PostgreSQL session a test uses from one thread at a time, in turn (a connection is not
/// Sendable).
private final class SessionBox: @unchecked Sendable {
    let session: PostgresConnection
    init(_ session: PostgresConnection) { self.session = session }
}
