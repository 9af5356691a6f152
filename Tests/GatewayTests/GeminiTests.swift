import Crypto
import HTTP1
import HTTPServer
import Domain
import Foundation
import Gateway
import Glibc
import TestSupport
import Testing

/// 300 KB of "video": larger than the inline-string threshold, so the streamed-span path runs.
let fakeVideo: [UInt8] = TestBytes.pattern(300_000)

extension TestGateway {
    static func startWithGemini(_ fake: FakeGemini) async throws -> TestGateway {
        try await TestGateway.start { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
        }
    }
}

@Suite("Gemini Interactions adapter", .timeLimit(.minutes(2)), .stopsGateways)
struct GeminiTests {
    @Test func textToVideoEndToEndSpeaksTheWireFormat() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "a fox in snow", "negativePrompt": "blur",
                                             "duration": 5, "numberResults": 2])
        let done = try await gw.waitUntilDone(uuid)
        #expect(done.data.allSatisfy { $0["status"] == "success" })
        #expect(fake.creates.count == 2)  // one interaction per result
        let create = try #require(fake.creates.first)
        #expect(create.path == "/v1beta/interactions")
        #expect(create.headers["x-goog-api-key"] == "fake-gemini-key")
        let body = try JSONParser.parse(create.body)
        #expect(body["model"] == "gemini-omni-flash-preview")
        #expect(body["background"] == true && body["store"] == true)
        #expect(body["response_format"] == ["type": "video", "aspect_ratio": "16:9", "duration": "5s", "resolution": "720p", "delivery": "inline"])
        #expect(body["generation_config"]?["video_config"] == ["task": "text_to_video"])
        let content = body["input"]?.array?.first?["content"]?.array ?? []
        #expect(body["input"]?.array?.first?["type"] == "user_input")
        #expect(content.first?["text"]?.string == "a fox in snow\n\nAvoid: blur")
        // The stored video is exactly what Gemini returned inline (decoded from base64 on disk).
        let url = try #require(done.data.first?["videoURL"]?.string)
        let media = try await gw.fetch(String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        #expect(Crypto.sha256(media.body) == Crypto.sha256(fakeVideo))
        let view = try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        #expect(view.body["provider"] == "gemini")
        #expect(view.body["upstreamId"]?.string?.split(separator: ",").count == 2)
        await gw.stop()
    }

    @Test func uriDeliveryFollowsTheFilesRedirectAndFlatOutputsAreAccepted() async throws {
        var settings = FakeGemini.Settings()
        settings.delivery = "uri"
        settings.flatOutputs = true
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let url = try #require(try await gw.waitUntilDone(uuid).data.first?["videoURL"]?.string)
        let media = try await gw.fetch(String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        #expect(Crypto.sha256(media.body) == Crypto.sha256(fakeVideo))
        #expect(fake.requests.contains { $0.path.hasSuffix(":download") } && fake.requests.contains { $0.path.hasPrefix("/storage/") })
        await gw.stop()
    }

    @Test func imageTasksSendTheImagesInline() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).base64EncodedString()
        let (a, _) = try await gw.submit(["model": "google:gemini@omni-flash", "aspectRatio": "9:16",
                                          "inputs": ["frameImages": [.string("data:image/png;base64,\(png)")]]])
        let (b, _) = try await gw.submit(["model": "google:gemini@omni-flash", "inputs": ["referenceImages": [.string(png), .string(png)]]])
        _ = try await gw.waitUntilDone(a)
        _ = try await gw.waitUntilDone(b)
        let bodies = try fake.creates.map { try JSONParser.parse($0.body) }
        let i2v = try #require(bodies.first { $0["generation_config"]?["video_config"]?["task"] == "image_to_video" })
        #expect(i2v["response_format"]?["aspect_ratio"] == "9:16")
        #expect(i2v["input"]?.array?.first?["content"]?.array?.last == ["type": "image", "mime_type": "image/png", "data": .string(png)])
        let r2v = try #require(bodies.first { $0["generation_config"]?["video_config"]?["task"] == "reference_to_video" })
        #expect(r2v["input"]?.array?.first?["content"]?.array?.count == 3)
        await gw.stop()
    }

    @Test func permanentUpstreamErrorsFailTheTaskWithTheUpstreamMessage() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        fake.inject([.status(400, body: #"{"error":{"code":"invalid_request","message":"duration must be between 3s and 10s"}}"#)])
        let gw = try await TestGateway.startWithGemini(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let reply = try await gw.waitUntilDone(uuid)
        #expect(reply.data.first?["error"]?["code"] == "invalidInput")
        #expect(reply.data.first?["error"]?["message"]?.string?.contains("duration must be between 3s and 10s") == true)
        #expect(fake.creates.count == 1)  // permanent: not retried
        await gw.stop()
    }

    @Test func rateLimitsAreRetriedHonouringEachKindOfHint() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        fake.inject([
            .status(429, body: #"{"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#, headers: [("Retry-After", "0")]),
            .status(429, body: #"{"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#, headers: [("retry-after-ms", "50")]),
            .status(429, body: #"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.05s"}]}}"#),
        ])
        let gw = try await TestGateway.startWithGemini(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let reply = try await gw.waitUntilDone(uuid, timeout: 60)
        #expect(reply.data.first?["status"] == "success")
        #expect(fake.creates.count == 4)
        await gw.stop()
    }

    @Test func safetyBlocksBecomeContentPolicyViolations() async throws {
        var settings = FakeGemini.Settings()
        settings.failWith = "The request was blocked by safety filters (PROHIBITED_CONTENT)."
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let error = try #require(try await gw.waitUntilDone(uuid).data.first?["error"])
        #expect(error["code"] == "contentPolicyViolation")
        #expect(error["message"]?.string?.contains("PROHIBITED_CONTENT") == true)
        await gw.stop()
    }

    @Test func cancelReachesTheUpstreamInteraction() async throws {
        var settings = FakeGemini.Settings()
        settings.pollsBeforeDone = 100_000
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        var polled = false
        for _ in 0..<400 where !polled {
            polled = fake.requests.contains { $0.method == "GET" }
            if !polled { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(polled)
        #expect(try await gw.request("POST", "/v1/tasks/\(uuid)/cancel").status == 200)
        #expect(fake.requests.contains { $0.method == "POST" && $0.path == "/v1beta/interactions/v1_fake1/cancel" })
        await gw.stop()
    }
}

@Suite("Gemini restart", .timeLimit(.minutes(2)), .stopsGateways)
struct GeminiRestartTests {
    @Test func restartMidPollResumesPollingWithoutASecondCreate() async throws {
        var settings = FakeGemini.Settings()
        settings.pollsBeforeDone = 100_000
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let dir = TempDirectory()
        defer { dir.remove() }
        let config = dir.file("config.json")
        try #"{"providers":{"gemini":{"pollIntervalSeconds":0.05}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let env = ["REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.file("data"), "REELGATE_API_KEYS": "crash:\(CrashTests.key):ops",
                   "GEMINI_API_KEY": "fake-gemini-key", "GEMINI_BASE_URL": fake.baseURL]
        var gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: env, workingDirectory: dir.path)
        var port = try await gateway.waitForListening()
        let uuid = UUID().uuidString.lowercased()
        let body = #"[{"taskType":"videoInference","taskUUID":"\#(uuid)","model":"google:gemini@omni-flash","positivePrompt":"restart me"}]"#
        #expect(try await CrashTests.post(port: port, body: body).status == 200)
        var polled = false
        for _ in 0..<1000 where !polled {
            polled = fake.requests.contains { $0.method == "GET" }
            if !polled { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(polled)
        gateway.signal(SIGKILL)
        _ = try await gateway.waitForExit()

        fake.update { $0.pollsBeforeDone = 0 }
        gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: env, workingDirectory: dir.path)
        port = try await gateway.waitForListening()
        var status = ""
        for _ in 0..<600 where status != "success" {
            let reply = try await CrashTests.post(port: port, body: #"[{"taskType":"getResponse","taskUUID":"\#(uuid)"}]"#)
            status = (try JSONParser.parse(reply.body))["data"]?.array?.first?["status"]?.string ?? ""
            if status != "success" { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(status == "success")
        #expect(fake.creates.count == 1)  // the stored interaction id was polled again: nothing paid twice
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
    }
}

@Suite("conversational editing and lineage", .timeLimit(.minutes(2)), .stopsGateways)
struct EditingTests {
    @Test func editChainWithABranchContinuesTheUpstreamInteractions() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        func video(of uuid: String) async throws -> String {
            try #require(try await gw.waitUntilDone(uuid).data.first?["videoUUID"]?.string)
        }
        let (rootTask, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "a paper boat"])
        let root = try await video(of: rootTask)
        let (editTask, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "make it rain", "inputs": ["videoId": .string(root)]])
        let edit = try await video(of: editTask)
        let (branchTask, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "make it night", "inputs": ["videoId": .string(root)]])
        let branch = try await video(of: branchTask)
        let (deeperTask, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "add thunder", "inputs": ["videoId": .string(edit)]])
        let deeper = try await video(of: deeperTask)

        // Each edit continued the interaction that made its source: v1_fake1 → 2 and 3; 2 → 4.
        let bodies = try fake.creates.map { try JSONParser.parse($0.body) }
        #expect(bodies.map { $0["previous_interaction_id"]?.string } == [nil, "v1_fake1", "v1_fake1", "v1_fake2"])
        #expect(bodies.dropFirst().allSatisfy { $0["generation_config"]?["video_config"]?["task"] == "edit" })

        let lineage = try await gw.request("GET", "/v1/videos/\(deeper)/lineage")
        #expect(lineage.status == 200)
        #expect(lineage.body["root"]?.string == root)
        let nodes = Dictionary(uniqueKeysWithValues: (lineage.body["nodes"]?.array ?? []).compactMap { n in n["videoUUID"]?.string.map { ($0, n) } })
        #expect(Set(nodes.keys) == [root, edit, branch, deeper])
        #expect(Set(nodes[root]?["children"]?.array ?? []) == [.string(edit), .string(branch)])
        #expect(nodes[edit]?["children"] == [.string(deeper)])
        #expect(nodes[deeper]?["parent"]?.string == edit)
        #expect(nodes[branch]?["prompt"] == "make it night")
        #expect(try await gw.request("GET", "/v1/videos/\(deeper)/lineage", key: TestGateway.bob).status == 404)
        #expect(try await gw.request("GET", "/v1/videos/\(UUID().uuidString.lowercased())/lineage").status == 404)
        await gw.stop()
    }
}

@Suite("Gemini inputs: fetched, inline or through the Files API", .timeLimit(.minutes(2)), .stopsGateways)
struct GeminiInputTests {
    static func pngBytes(size: Int) -> [UInt8] {
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + TestBytes.pattern(max(0, size - 8))
    }

    static func startGateway(_ fake: FakeGemini) async throws -> TestGateway {
        try await TestGateway.start { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
            config.providers.simulator.latencySeconds = 0.05
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
        }
    }

    @Test func largeUploadedImageGoesThroughTheFilesAPI() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await Self.startGateway(fake)
        let big = Self.pngBytes(size: 3 << 20)
        let upload = try await gw.post([["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()),
                                         "image": .string(Data(big).base64EncodedString())]])
        let imageUUID = try #require(upload.data.first?["imageUUID"]?.string)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash", "inputs": ["referenceImages": [.string(imageUUID)]]])
        let result = try await gw.waitUntilDone(uuid).data.first
        #expect(result?["status"] == "success", "\(String(describing: result))")
        let file = try #require(fake.uploads["files/up1"])
        #expect(file.mime == "image/png" && file.bytes == big)
        let body = try JSONParser.parse(try #require(fake.creates.first).body)
        let image = body["input"]?.array?.first?["content"]?.array?.last
        #expect(image == ["type": "image", "mime_type": "image/png", "uri": "https://generativelanguage.googleapis.com/v1beta/files/up1"])
        await gw.stop()
    }

    @Test func urlImagesAreFetchedThroughTheGuardAndCheckedByContent() async throws {
        let small = Self.pngBytes(size: 5000)
        let router = RouterBuilder()
        router.get("/cat.png") { _ in HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "image/png")]), bytes: small) }
        router.get("/lies.png") { _ in HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "image/png")]), bytes: Array("<html>".utf8)) }
        let images = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        try images.start()
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await Self.startGateway(fake)
        let (ok, _) = try await gw.submit(["model": "google:gemini@omni-flash",
                                           "inputs": ["frameImages": [.string("http://127.0.0.1:\(images.port)/cat.png")]]])
        #expect(try await gw.waitUntilDone(ok).data.first?["status"] == "success")
        let body = try JSONParser.parse(try #require(fake.creates.first).body)
        #expect(body["input"]?.array?.first?["content"]?.array?.last?["data"]?.string == Data(small).base64EncodedString())
        let (bad, _) = try await gw.submit(["model": "google:gemini@omni-flash",
                                            "inputs": ["frameImages": [.string("http://127.0.0.1:\(images.port)/lies.png")]]])
        let error = try #require(try await gw.waitUntilDone(bad).data.first?["error"])
        #expect(error["code"] == "invalidInput" && error["message"]?.string?.contains("not png, jpeg or webp") == true)
        await gw.stop()
        await images.shutdown(gracePeriod: .milliseconds(10))
    }

    @Test func editingAnotherProvidersVideoUploadsTheSource() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await Self.startGateway(fake)
        let (rootTask, _) = try await gw.submit(["model": "reelgate:simulator@1"])
        let root = try #require(try await gw.waitUntilDone(rootTask).data.first?["videoUUID"]?.string)
        let (edit, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "add snow", "inputs": ["videoId": .string(root)]])
        #expect(try await gw.waitUntilDone(edit).data.first?["status"] == "success")
        let body = try JSONParser.parse(try #require(fake.creates.first).body)
        #expect(body["previous_interaction_id"] == nil)  // no Gemini state to continue
        #expect(body["generation_config"]?["video_config"]?["task"] == "edit")
        let video = body["input"]?.array?.first?["content"]?.array?.last
        #expect(video?["type"] == "video" && video?["uri"]?.string?.hasSuffix("/files/up1") == true)
        #expect(fake.uploads["files/up1"]?.mime == "video/mp4")
        #expect(Array(fake.uploads["files/up1"]?.bytes.prefix(8).dropFirst(4) ?? []) == Array("ftyp".utf8))
        #expect(fake.requests.contains { $0.method == "GET" && $0.path == "/v1beta/files/up1" })  // waited for ACTIVE
        await gw.stop()
    }
}
