import Crypto
import Domain
import Foundation
import Gateway
import Store
import TestSupport
import Testing

/// What one request may ask for, with any client key (issue 10, points 3, 4, 6, 7, 8, 12).
@Suite("request limits and tenant isolation", .timeLimit(.minutes(2)), .stopsGateways)
struct RequestLimitTests {
    static let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

    // MARK: Tasks per request

    @Test func moreTasksThanTheCapIsOneSmallError() async throws {
        let gw = try await TestGateway.start()
        let ping: JSONValue = ["taskType": "ping", "ping": true]
        let hundred = try await gw.post(.array(Array(repeating: ping, count: 100)))
        #expect(hundred.status == 200 && hundred.data.count == 100)
        let over = try await gw.post(.array(Array(repeating: ping, count: 101)))
        #expect(over.status == 400)
        #expect(over.errors.count == 1)
        #expect(over.errors.first?["code"] == "tooManyTasks")
        #expect(over.errors.first?["message"]?.string?.contains("100") == true)
        // 4 MB of junk items: refused after the 101st, with one small error (not one per item).
        let junk = "[" + Array(repeating: #""x""#, count: 1_000_000).joined(separator: ",") + "]"
        let reply = try await gw.request("POST", "/v1", body: junk)
        #expect(reply.status == 400)
        #expect(reply.errors.count == 1 && reply.errors.first?["code"] == "tooManyTasks")
        #expect(reply.body.serialized().utf8.count < 512)
        await gw.stop()
    }

    @Test func aFewTasksHoldingMillionsOfValuesAreRefusedWhileParsing() async throws {
        let gw = try await TestGateway.start()
        let numbers = Array(repeating: "1", count: 500_000).joined(separator: ",")
        let body = #"[{"taskType":"videoInference","taskUUID":"\#(UUID().uuidString.lowercased())","model":"reelgate:simulator@1","positivePrompt":"xx","inputs":{"referenceImages":[\#(numbers)]}}]"#
        let reply = try await gw.request("POST", "/v1", body: body)
        #expect(reply.status == 400)
        #expect(reply.errors.count == 1 && reply.errors.first?["code"] == "invalidRequest")
        #expect(reply.errors.first?["message"]?.string?.contains("JSON values") == true)
        await gw.stop()
    }

    @Test func errorsNeverEchoMoreThanAShortQuote() async throws {
        let gw = try await TestGateway.start()
        let long = String(repeating: "Z", count: 100_000)
        let reply = try await gw.post([
            ["taskType": .string(long), "taskUUID": .string(UUID().uuidString.lowercased())],
            ["taskType": "videoInference", "taskUUID": .string(UUID().uuidString.lowercased()), "model": "reelgate:simulator@1",
             "positivePrompt": "xx", .init(stringLiteral: long): 1],
        ])
        #expect(reply.errors.count == 2)
        #expect(reply.body.serialized().utf8.count < 2048)
        #expect(reply.errors.last?["code"] == "unsupportedParameter")
        await gw.stop()
    }

    // MARK: Bytes, not only characters

    @Test func promptsAreLimitedInCodePointsAndBytes() async throws {
        let gw = try await TestGateway.start()
        let combining = "a" + String(repeating: "\u{0301}", count: 2_000_000) + "b"  // 2 "characters", 4 MB
        #expect(combining.count == 2)
        for field in ["positivePrompt", "negativePrompt"] {
            var task: [String: JSONValue] = ["positivePrompt": "a fine prompt"]
            task[field] = .string(combining)
            let (_, reply) = try await gw.submit(task)
            #expect(reply.status == 400)
            #expect(reply.errors.first?["parameter"]?.string == field)
            #expect(reply.errors.first?["message"]?.string?.contains("bytes") == true)
        }
        // 3000 two-byte characters are fine (6000 bytes); 3001 are not.
        let (_, fine) = try await gw.submit(["positivePrompt": .string(String(repeating: "é", count: 3000))])
        #expect(fine.status == 200)
        let (_, long) = try await gw.submit(["positivePrompt": .string(String(repeating: "é", count: 3001))])
        #expect(long.status == 400)
        await gw.stop()
    }

    @Test func theStoredRequestHasASizeCap() async throws {
        let gw = try await TestGateway.start { $0.server.maxStoredRequestBytes = 4096 }
        let (_, reply) = try await gw.submit(["positivePrompt": .string(String(repeating: "é", count: 2500))])
        #expect(reply.status == 413)
        #expect(reply.errors.first?["code"] == "requestTooLarge")
        #expect(reply.errors.first?["message"]?.string?.contains("imageUpload") == true)
        await gw.stop()
    }

    // MARK: providerSettings

    @Test(arguments: [
        ("google", "previous_interaction_id"), ("google", "model"), ("google", "input"), ("google", "response_format"),
        ("google", "generation_config"), ("fal", "prompt"), ("fal", "image_url"), ("fal", "sync_mode"),
    ])
    func providerSettingsCannotSetWhatReelgateOwns(section: String, field: String) async throws {
        let gw = try await TestGateway.start()
        let (_, reply) = try await gw.submit(["providerSettings": [.init(stringLiteral: section): [.init(stringLiteral: field): "v1_someone_elses"]]])
        #expect(reply.status == 400)
        #expect(reply.errors.first?["code"] == "unsupportedParameter")
        #expect(reply.errors.first?["parameter"]?.string == "providerSettings.\(section).\(field)")
        let (_, fine) = try await gw.submit(["providerSettings": ["google": ["generateAudio": true]]])
        #expect(fine.status == 200)
        await gw.stop()
    }

    @Test func anInvalidTaskUUIDOrModelIsQuotedShort() async throws {
        let gw = try await TestGateway.start()
        let long = String(repeating: "Q", count: 200_000)
        let reply = try await gw.post([
            ["taskType": "videoInference", "taskUUID": .string(long), "model": "reelgate:simulator@1", "positivePrompt": "xx"],
            ["taskType": "videoInference", "taskUUID": .string(UUID().uuidString.lowercased()), "model": .string("a:\(long)@1"), "positivePrompt": "xx"],
            ["taskType": "getResponse", "taskUUID": .string(long)],
        ])
        #expect(reply.errors.count == 3)
        #expect(reply.body.serialized().utf8.count < 2048)
        await gw.stop()
    }

    // MARK: Another key's media

    @Test func anotherKeysVideoCannotBeAnInput() async throws {
        let gw = try await TestGateway.start()
        let (bobsTask, _) = try await gw.submit([:], key: TestGateway.bob)
        let bobsVideo = try #require(try await gw.waitUntilDone(bobsTask, key: TestGateway.bob).data.first?["videoUUID"]?.string)
        for field in ["video", "videoId"] {
            let (_, reply) = try await gw.submit(["inputs": [.init(stringLiteral: field): .string(bobsVideo)]], key: TestGateway.alice)
            #expect(reply.status == 400)
            #expect(reply.errors.first?["code"] == "videoNotFound")
            #expect(reply.errors.first?["parameter"]?.string == "inputs.\(field)")
            // Bob's own, and an ops key, may.
            let (_, own) = try await gw.submit(["inputs": [.init(stringLiteral: field): .string(bobsVideo)]], key: TestGateway.bob)
            #expect(own.status == 200)
            let (_, ops) = try await gw.submit(["inputs": [.init(stringLiteral: field): .string(bobsVideo)]], key: TestGateway.opsKey)
            #expect(ops.status == 200)
        }
        await gw.stop()
    }

    /// A task that names another key's media and reached the store anyway (an older version
    /// accepted it, say) is checked again where the worker loads the file: nothing is uploaded.
    @Test func theWorkerChecksTheOwnerAgainWhenItLoadsTheFile() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        let (bobsTask, _) = try await gw.submit([:], key: TestGateway.bob)
        let bobsVideo = try #require(try await gw.waitUntilDone(bobsTask, key: TestGateway.bob).data.first?["videoUUID"]?.string)
        let upload = try await gw.post([["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()), "image": .string(Self.png)]],
                                       key: TestGateway.bob)
        let bobsImage = try #require(upload.data.first?["imageUUID"]?.string)
        for inputs: JSONValue in [["video": .string(bobsVideo)], ["frameImages": [.string(bobsImage)]]] {
            let uuid = UUID().uuidString.lowercased()
            let request: JSONValue = ["taskType": "videoInference", "taskUUID": .string(uuid), "model": "google:gemini@omni-flash",
                                      "positivePrompt": "steal", "inputs": inputs]
            let json = request.serialized()
            _ = try await gw.app.store.submit([NewTask(
                uuid: uuid, apiKeyName: "alice", model: "google:gemini@omni-flash", requestJSON: json, requestHash: Crypto.hex(Crypto.sha256(json)),
                format: "MP4", seeds: [1], videoUUIDs: [UUID().uuidString.lowercased()], parentVideoUUID: nil, maxInFlight: nil)])
            let done = try await gw.waitUntilDone(uuid)
            #expect(done.data.first?["status"] == "error")
            #expect(done.data.first?["error"]?["code"] == "invalidInput", "\(done.body)")
        }
        #expect(fake.uploads.isEmpty)
        #expect(fake.creates.isEmpty)
        await gw.stop()
    }

    // MARK: imageUpload is budgeted

    @Test func imageUploadsCountTowardTheRateLimitAndPerRequestCap() async throws {
        let gw = try await TestGateway.start { config in
            config.apiKeys[1].tasksPerMinute = 2
            config.media.maxImageUploadsPerRequest = 3
        }
        func upload() -> JSONValue { ["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()), "image": .string(Self.png)] }
        let two = try await gw.post([upload(), upload()])
        #expect(two.status == 200 && two.data.count == 2)
        let third = try await gw.post([upload()])
        #expect(third.status == 429)
        #expect(third.errors.first?["code"] == "rateLimitExceeded")
        #expect(third.headers["retry-after"] != nil)
        let many = try await gw.post([upload(), upload(), upload(), upload()], key: TestGateway.bob)
        #expect(many.data.count == 3)
        #expect(many.errors.map { $0["code"] } == ["tooManyImageUploads"])
        await gw.stop()
    }

    @Test func imageUploadsCountTowardTheMediaBudgetAndExpire() async throws {
        let gw = try await TestGateway.start { config in
            config.media.maxBytes = 100
            config.media.imageTTLSeconds = 3600
        }
        func upload() -> JSONValue { ["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()), "image": .string(Self.png)] }
        let first = try await gw.post([upload()])
        let image = try #require(first.data.first?["imageUUID"]?.string)
        #expect(gw.app.janitor.bytesInUse == 70)
        // 70 more would make 140 of 100: refused before anything is written.
        let full = try await gw.post([upload()])
        #expect(full.status == 507)
        #expect(full.errors.first?["code"] == "insufficientStorage")
        #expect(gw.app.janitor.bytesInUse == 70)
        #expect(try FileManager.default.contentsOfDirectory(atPath: gw.dir.file("media/images")).count == 1)
        // An hour later the sweeper removes it: file, row and budget.
        let removed = try await gw.app.janitor.sweep(now: Date().timeIntervalSince1970 + 3601)
        #expect(removed == 1)
        #expect(gw.app.janitor.bytesInUse == 0)
        #expect(!FileManager.default.fileExists(atPath: gw.dir.file("images/\(image)")))
        let (_, reference) = try await gw.submit(["inputs": ["frameImages": [.string(image)]]])
        #expect(reference.status == 400)
        #expect(reference.errors.first?["code"] == "imageNotFound")
        #expect(try await gw.post([upload()]).status == 200)
        await gw.stop()
    }

    // MARK: Redelivery

    @Test func redeliveryIsRateLimitedPerTaskAndPerKey() async throws {
        let gw = try await TestGateway.start { config in
            config.webhooks.redeliveriesPerKeyPerMinute = 3
            config.webhooks.redeliveryIntervalSeconds = 600
        }
        var tasks: [String] = []
        for _ in 0..<4 { tasks.append(try await gw.submit([:]).0) }
        let first = try await gw.request("POST", "/v1/tasks/\(tasks[0])/redeliver")
        #expect(first.status == 200)
        let again = try await gw.request("POST", "/v1/tasks/\(tasks[0])/redeliver")
        #expect(again.status == 429)
        #expect(again.errors.first?["code"] == "rateLimitExceeded")
        #expect(Int(again.headers["retry-after"] ?? "") ?? 0 > 500)
        #expect(try await gw.request("POST", "/v1/tasks/\(tasks[1])/redeliver").status == 200)
        #expect(try await gw.request("POST", "/v1/tasks/\(tasks[2])/redeliver").status == 200)
        let overKey = try await gw.request("POST", "/v1/tasks/\(tasks[3])/redeliver")
        #expect(overKey.status == 429)
        // Another key has its own budget.
        let (bobs, _) = try await gw.submit([:], key: TestGateway.bob)
        #expect(try await gw.request("POST", "/v1/tasks/\(bobs)/redeliver", key: TestGateway.bob).status == 200)
        await gw.stop()
    }

    // MARK: The ops view

    @Test func theTaskViewShowsOutboundURLsWithoutTheirQueryStrings() async throws {
        let gw = try await TestGateway.start { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
        }
        let (uuid, _) = try await gw.submit([
            "webhookURL": "http://127.0.0.1:1/hook?token=hook-secret-token",
            "uploadEndpoint": "http://127.0.0.1:1/bucket/v.mp4?X-Amz-Signature=presigned-signature&X-Amz-Date=20260101T000000Z",
        ])
        let view = try await gw.request("GET", "/v1/tasks/\(uuid)")
        #expect(view.body["request"]?["webhookURL"] == "http://127.0.0.1:1/hook")
        #expect(view.body["request"]?["uploadEndpoint"] == "http://127.0.0.1:1/bucket/v.mp4")
        let text = view.body.serialized()
        #expect(!text.contains("hook-secret-token") && !text.contains("presigned-signature"))
        await gw.stop()
    }
}

/// A request without a valid key costs almost nothing (issue 10, point 1).
@Suite("requests without a key", .timeLimit(.minutes(2)), .stopsGateways)
struct UnauthenticatedRequestTests {
    /// Sends only a head announcing `length` bytes and returns the answer, which must come from
    /// the head alone: not one byte of the body is sent.
    func headOnly(_ gw: TestGateway, _ headers: String, length: Int = 20_000_000) async throws -> RawResponse {
        let client = try RawHTTPClient(port: gw.port)
        try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\n\(headers)Content-Length: \(length)\r\n\r\n")
        return try await client.readResponse()
    }

    @Test func aLargeBodyWithoutAKeyIsRefusedFromTheHead() async throws {
        let gw = try await TestGateway.start()
        let missing = try await headOnly(gw, "")
        #expect(missing.status == 401)
        let body = try JSONParser.parse(missing.body)
        #expect(body["errors"]?.array?.first?["code"] == "missingApiKey")
        #expect(body["errors"]?.array?.first?["taskType"] == "authentication")
        #expect(body["errors"]?.array?.first?["message"]?.string?.contains("Authorization") == true)
        let wrong = try await headOnly(gw, "Authorization: Bearer not-a-key-0123456789\r\n")
        #expect(wrong.status == 401)
        #expect(try JSONParser.parse(wrong.body)["errors"]?.array?.first?["code"] == "invalidApiKey")
        // A bad key is refused however small the body.
        let small = try await headOnly(gw, "Authorization: Bearer not-a-key-0123456789\r\n", length: 10)
        #expect(small.status == 401)
        await gw.stop()
    }

    @Test func expectContinueWithoutAKeyGetsNo100Continue() async throws {
        let gw = try await TestGateway.start()
        let anonymous = try await headOnly(gw, "Expect: 100-continue\r\n", length: 100)
        #expect(anonymous.status == 401)
        let keyed = try await headOnly(gw, "Expect: 100-continue\r\nAuthorization: Bearer \(TestGateway.alice)\r\n", length: 100)
        #expect(keyed.status == 100)
        await gw.stop()
    }

    /// The authentication task still works for small bodies; past the small limit, it is a 401
    /// naming the header, whether the body is sized or chunked.
    @Test func aSmallBodyMayCarryItsKeyInAnAuthenticationTask() async throws {
        let gw = try await TestGateway.start { $0.server.unauthenticatedBodyBytes = 2048 }
        let body = #"[{"taskType":"authentication","apiKey":"\#(TestGateway.alice)"},{"taskType":"ping","ping":true}]"#
        let ok = try await gw.request("POST", "/v1", body: body, key: nil)
        #expect(ok.status == 200)
        #expect(ok.data.first?["pong"] == true)
        let padded = #"[{"taskType":"authentication","apiKey":"\#(TestGateway.alice)"},{"taskType":"ping","ping":true,"pad":"\#(String(repeating: "x", count: 3000))"}]"#
        let large = try await gw.request("POST", "/v1", body: padded, key: nil)
        #expect(large.status == 401)
        #expect(large.errors.first?["message"]?.string?.contains("2048") == true)
        let client = try RawHTTPClient(port: gw.port)
        try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n\(String(repeating: " ", count: 2048))\r\n10\r\n\(String(repeating: " ", count: 16))\r\n")
        let chunked = try await client.readResponse()
        #expect(chunked.status == 401)
        await gw.stop()
    }
}

/// Inline video answers are streamed and capped (issue 10, point 3).
@Suite("inline video replies", .timeLimit(.minutes(2)), .stopsGateways)
struct InlineReplyTests {
    @Test func manyInlineItemsAreStreamedByteExact() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit(["outputType": "base64Data", "numberResults": 4])
        _ = try await gw.waitUntilDone(uuid)
        let poll: JSONValue = ["taskType": "getResponse", "taskUUID": .string(uuid)]
        let reply = try await gw.post(.array(Array(repeating: poll, count: 100)))
        #expect(reply.status == 200)
        #expect(reply.data.count == 400)
        let task = try #require(try await gw.app.store.find(uuid))
        for (item, result) in zip(reply.data.prefix(4), task.results) {
            let video = try #require(Data(base64Encoded: item["videoBase64Data"]?.string ?? ""))
            #expect(video == FileManager.default.contents(atPath: result.mediaPath ?? ""))
            #expect(item["status"] == "success" && item["videoUUID"]?.string == result.videoUUID)
        }
        await gw.stop()
    }

    @Test func inlineVideoPastTheCapIsAClearError() async throws {
        let gw = try await TestGateway.start { $0.server.maxInlineResponseBytes = 20_000 }
        let (uuid, _) = try await gw.submit(["outputType": "dataURI"])
        _ = try await gw.waitUntilDone(uuid, timeout: 20)  // its first poll is within the cap: one ~13 KB clip
        let reply = try await gw.post([["taskType": "getResponse", "taskUUID": .string(uuid)], ["taskType": "getResponse", "taskUUID": .string(uuid)]])
        #expect(reply.data.count == 1)
        #expect(reply.data.first?["videoDataURI"]?.string?.hasPrefix("data:video/mp4;base64,") == true)
        #expect(reply.errors.first?["code"] == "responseTooLarge")
        #expect(reply.errors.first?["taskUUID"]?.string == uuid)
        await gw.stop()
    }

    /// A webhook carrying an inline video is spooled to disk, signed as it is written, and
    /// arrives byte-exact with a valid signature.
    @Test func aWebhookWithAnInlineVideoIsSignedAndByteExact() async throws {
        let receiver = try Receiver()
        let gw = try await TestGateway.startForDelivery()
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook"), "outputType": "base64Data"])
        let view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["deliveries"]?.array?.first?["state"] == "delivered")
        let hit = try #require(receiver.received.first)
        let signer = WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let id = try #require(hit.headers["webhook-id"])
        let timestamp = try #require(Int64(hit.headers["webhook-timestamp"] ?? ""))
        #expect(hit.headers["webhook-signature"] == signer.signature(id: id, timestamp: timestamp, body: hit.body))
        let item = try #require(try JSONParser.parse(hit.body)["data"]?.array?.first)
        let task = try #require(try await gw.app.store.find(uuid))
        #expect(Data(base64Encoded: item["videoBase64Data"]?.string ?? "") == FileManager.default.contents(atPath: task.results[0].mediaPath ?? ""))
        // The spool file is gone once the attempt is over.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: gw.dir.file("spool")))?.isEmpty == true)
        await gw.stop()
        await receiver.server.shutdown(gracePeriod: .zero)
    }
}

/// The `server` limits of the configuration reach the HTTP server (issue 10, points 1 and 2).
@Suite("server limits from the configuration", .timeLimit(.minutes(2)), .stopsGateways)
struct ServerLimitConfigurationTests {
    @Test func bodyDeadlinePerClientCapAndBufferBudgetApply() async throws {
        let gw = try await TestGateway.start { config in
            config.server.bodyDeadlineSeconds = 0.8
            config.server.maxConnectionsPerClient = 2
            config.server.maxBufferedBodyBytes = 50_000
        }
        let head = "POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(TestGateway.alice)\r\n"
        // A body trickled with a valid key meets the absolute deadline.
        let trickler = try RawHTTPClient(port: gw.port, sourceAddress: "127.0.0.5")
        try await trickler.send(head + "Content-Length: 1000\r\n\r\n[")
        let trickle = Task {
            for _ in 0..<100 {
                try await trickler.send(" ")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { trickle.cancel() }
        #expect(try await trickler.readResponse().status == 408)
        // Two connections from one address; the third is refused, another address is served.
        let held = try (0..<2).map { _ in try RawHTTPClient(port: gw.port, sourceAddress: "127.0.0.6") }
        for client in held { try await client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n") }
        for client in held { #expect(try await client.readResponse().status == 200) }
        let third = try RawHTTPClient(port: gw.port, sourceAddress: "127.0.0.6")
        try await third.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try await third.readResponse().status == 503)
        let other = try RawHTTPClient(port: gw.port, sourceAddress: "127.0.0.7")
        try await other.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try await other.readResponse().status == 200)
        // More body than the budget holds is refused as it arrives, with a retryable 503.
        let big = try RawHTTPClient(port: gw.port, sourceAddress: "127.0.0.8")
        try await big.send(head + "Content-Length: 60000\r\n\r\n" + String(repeating: " ", count: 60_000))
        let busy = try await big.readResponse()
        #expect(busy.status == 503)
        #expect(busy.headers["retry-after"] == "1")
        await gw.stop()
    }
}
