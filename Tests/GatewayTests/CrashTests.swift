import Domain
import Foundation
import Glibc
import TestSupport
import Testing

/// SPEC §10: no acknowledged task is lost to `kill -9`, whatever it was doing.
@Suite("crash recovery", .timeLimit(.minutes(3)))
struct CrashTests {
    static let key = "crash-test-key-0123456789"

    @Test func everyAcknowledgedTaskReachesATerminalStateAcrossKills() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let config = dir.file("config.json")
        try #"{"providers":{"simulator":{"latencySeconds":0.4}},"workers":{"count":48}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let env = ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.file("data"), "REELGATE_API_KEYS": "crash:\(Self.key):ops"]
        func launch() async throws -> (GatewayProcess, Int) {
            let process = try GatewayProcess(arguments: ["serve", "--config", config], environment: env, workingDirectory: dir.path)
            return (process, try await process.waitForListening())
        }

        var acknowledged: [String] = []
        var (gateway, port) = try await launch()
        let started = Date()
        for round in 0..<6 {
            // Submit in batches of 10 while the previous rounds' tasks are mid-flight, then kill -9.
            for _ in 0..<5 {
                let ids = (0..<10).map { _ in UUID().uuidString.lowercased() }
                let body = "[" + ids.map {
                    #"{"taskType":"videoInference","taskUUID":"\#($0)","model":"reelgate:simulator@1","positivePrompt":"crash round \#(round)","numberResults":2}"#
                }.joined(separator: ",") + "]"
                if let reply = try? await post(port: port, body: body), reply.status == 200 {
                    acknowledged += ids
                }
            }
            // A random moment, so kills land in every phase: dispatching, running, fetching, storing.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...600)))
            gateway.signal(SIGKILL)
            #expect(try await gateway.waitForExit() == SIGKILL)
            (gateway, port) = try await launch()
        }
        #expect(acknowledged.count == 300)

        // After the last restart every acknowledged task must finish; nothing may be lost.
        var unfinished = Set(acknowledged)
        let deadline = Date().addingTimeInterval(90)
        while !unfinished.isEmpty, Date() < deadline {
            for uuid in Array(unfinished.prefix(50)) {
                let reply = try await post(port: port, body: #"[{"taskType":"getResponse","taskUUID":"\#(uuid)"}]"#)
                let items = (try JSONParser.parse(reply.body))["data"]?.array ?? []
                #expect(reply.status == 200, "acknowledged task \(uuid) is unknown after restarts")
                if items.count == 2, items.allSatisfy({ $0["status"]?.string == "success" }) { unfinished.remove(uuid) }
                #expect(!items.contains { $0["status"]?.string == "error" }, "task \(uuid) failed: \(items)")
            }
            if !unfinished.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(unfinished.isEmpty, "\(unfinished.count) acknowledged tasks never finished")
        #expect(Date().timeIntervalSince(started) < 120)
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }

    private func post(port: Int, body: String) async throws -> RawResponse {
        let client = try RawHTTPClient(port: port)
        let bytes = Array(body.utf8)
        try await client.send(Array("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Self.key)\r\nConnection: close\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8) + bytes)
        return try await client.readResponse()
    }
}
