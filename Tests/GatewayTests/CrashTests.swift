import Domain
import Foundation
import Glibc
import HTTP1
import HTTPServer
import Synchronization
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
                if let reply = try? await Self.post(port: port, body: body), reply.status == 200 {
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
                let reply = try await Self.post(port: port, body: #"[{"taskType":"getResponse","taskUUID":"\#(uuid)"}]"#)
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

    static func post(port: Int, body: String) async throws -> RawResponse {
        let client = try RawHTTPClient(port: port)
        let bytes = Array(body.utf8)
        try await client.send(Array("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Self.key)\r\nConnection: close\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8) + bytes)
        return try await client.readResponse()
    }
}

@Suite("crash mid-delivery", .timeLimit(.minutes(2)))
struct CrashMidDeliveryTests {
    @Test func aWebhookInFlightAtKill9IsSentAgainAfterRestart() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        // The receiver never answers the first request (the gateway dies mid-delivery), then answers.
        let firstArrived = Gate()
        let ids = Mutex<[String]>([])
        let router = RouterBuilder()
        router.add("POST", "/hook") { request in
            let n = ids.withLock { list in
                list.append(request.headers["webhook-id"] ?? "")
                return list.count
            }
            if n == 1 {
                firstArrived.open()
                try? await Task.sleep(for: .seconds(60))
            }
            return .text(.ok, "ok")
        }
        let receiver = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        try receiver.start()
        defer { Task { await receiver.shutdown(gracePeriod: .milliseconds(10)) } }

        let config = dir.file("config.json")
        try #"{"providers":{"simulator":{"latencySeconds":0.1}},"network":{"allowHTTP":true,"allowHosts":["127.0.0.1/32"]},"webhooks":{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","timeoutSeconds":120}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let env = ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.file("data"), "REELGATE_API_KEYS": "crash:\(CrashTests.key):ops"]
        var gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: env, workingDirectory: dir.path)
        var port = try await gateway.waitForListening()
        let uuid = UUID().uuidString.lowercased()
        let submit = #"[{"taskType":"videoInference","taskUUID":"\#(uuid)","model":"reelgate:simulator@1","positivePrompt":"crash mid delivery","webhookURL":"http://127.0.0.1:\#(receiver.port)/hook"}]"#
        #expect(try await CrashTests.post(port: port, body: submit).status == 200)

        await firstArrived.wait()  // the webhook is in flight
        gateway.signal(SIGKILL)
        _ = try await gateway.waitForExit()

        gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: env, workingDirectory: dir.path)
        port = try await gateway.waitForListening()
        var state = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let client = try RawHTTPClient(port: port)
            try await client.send("GET /v1/tasks/\(uuid) HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(CrashTests.key)\r\nConnection: close\r\n\r\n")
            let view = try JSONParser.parse(try await client.readResponse().body)
            state = view["deliveries"]?.array?.first?["state"]?.string ?? ""
            if state == "delivered" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(state == "delivered")
        let seen = ids.withLock { $0 }
        #expect(seen.count >= 2)
        #expect(Set(seen).count == 1)  // the same webhook-id: receivers can dedupe
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }
}
