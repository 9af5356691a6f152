import Foundation
import Glibc
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
        let gateway = try GatewayProcess(environment: ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.path], workingDirectory: dir.path)
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
        let gateway = try GatewayProcess(arguments: ["check-config"], environment: [
            "REELGATE_API_KEYS": "ops:very-secret-api-key:ops", "GEMINI_API_KEY": "gemini-secret-value",
            "REELGATE_WEBHOOK_SECRET": "whsec_secretvalue",
        ], workingDirectory: FileManager.default.temporaryDirectory.path)
        #expect(try await gateway.waitForExit() == 0)
        let out = gateway.standardOutput
        #expect(out.contains("\"listen\""))
        #expect(out.contains("\"name\" : \"ops\""))
        for secret in ["very-secret-api-key", "gemini-secret-value", "whsec_secretvalue"] { #expect(!out.contains(secret)) }
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
