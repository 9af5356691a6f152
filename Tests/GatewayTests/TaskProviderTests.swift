import Crypto
import Domain
import Foundation
import Gateway
import SQLiteStore
import TestSupport
import HTTP1
import HTTPServer
import Synchronization
import Testing

extension TestGateway {
    static func startWithUpstreams(fal: FakeFal? = nil, runware: FakeRunware? = nil, taskapi: FakeTaskAPI? = nil, gemini: FakeGemini? = nil,
                                   logFD: Int32? = nil,
                                   _ configure: @escaping @Sendable (inout Configuration) -> Void = { _ in }) async throws -> TestGateway {
        try await TestGateway.start(logFD: logFD) { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]  // the fakes' result URLs are on loopback
            config.workers.retryBaseSeconds = 0.05
            config.workers.retryMaxSeconds = 0.2
            if let fal {
                config.providers.fal.key = fal.key
                config.providers.fal.baseURL = fal.baseURL
                config.providers.fal.pollIntervalSeconds = 0.05
            }
            if let runware {
                config.providers.runware.apiKey = runware.key
                config.providers.runware.baseURL = runware.baseURL + "/v1"
                config.providers.runware.pollIntervalSeconds = 0.05
            }
            if let taskapi {
                var entry = TaskAPISettings.Entry(name: "evolink", baseURL: taskapi.baseURL)
                entry.apiKey = taskapi.key
                entry.pollIntervalSeconds = 0.05
                config.providers.taskapi = [entry]
                config.models["evolink:omni-i2v@1"] = [.init(provider: "evolink", model: "gemini-omni-flash-image-to-video")]
            }
            if let gemini {
                config.providers.gemini.apiKey = "fake-gemini-key"
                config.providers.gemini.baseURL = gemini.baseURL
                config.providers.gemini.pollIntervalSeconds = 0.05
            }
            configure(&config)
        }
    }

    func mediaBytes(_ reply: Reply) async throws -> [UInt8] {
        let url = try #require(reply.data.first?["videoURL"]?.string)
        return try await fetch(String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })).body
    }
}

let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).base64EncodedString()

@Suite("fal, Runware and task-API providers", .timeLimit(.minutes(2)), .stopsGateways)
struct TaskProviderTests {
    @Test func falQueueEndToEnd() async throws {
        let fal = try FakeFal(video: fakeVideo)
        fal.inject([.status(429, body: #"{"detail":"Too many requests"}"#)])
        let gw = try await TestGateway.startWithUpstreams(fal: fal)
        let (t2v, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "a fox", "duration": 6])
        let reply = try await gw.waitUntilDone(t2v)
        #expect(reply.data.first?["status"] == "success")
        #expect(Crypto.sha256(try await gw.mediaBytes(reply)) == Crypto.sha256(fakeVideo))
        let submit = try #require(fal.requests.last { $0.method == "POST" })
        #expect(submit.path == "/google/gemini-omni-flash/text-to-video")
        #expect(submit.headers["authorization"] == "Key fal-key")
        let body = try JSONParser.parse(submit.body)
        #expect(body["prompt"] == "a fox" && body["duration"] == "6s" && body["aspect_ratio"] == "16:9")
        #expect(fal.requests.filter { $0.method == "POST" }.count == 2)  // the 429 was retried
        let (i2v, _) = try await gw.submit(["model": "google:gemini@omni-flash", "inputs": ["frameImages": [.string("data:image/png;base64,\(png)")]]])
        _ = try await gw.waitUntilDone(i2v)
        let imageSubmit = try #require(fal.requests.last { $0.method == "POST" })
        #expect(imageSubmit.path == "/google/gemini-omni-flash/image-to-video")
        #expect(try JSONParser.parse(imageSubmit.body)["image_url"]?.string == "data:image/png;base64,\(png)")
        await gw.stop()
    }

    /// SIGTERM aborts a download in flight: the task keeps its state for the next start (which
    /// fetches again from the job already paid for), never `failed` with a cancellation.
    @Test func aShutdownMidDownloadDoesNotFailTheTask() async throws {
        let fal = try FakeFal(video: fakeVideo)
        fal.holdMedia.withLock { $0 = true }
        let gw = try await TestGateway.startWithUpstreams(fal: fal)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "a fox"])
        while fal.mediaRequests.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        await gw.app.shutdown()
        let store = try SQLiteTaskStore(path: gw.dir.file("reelgate.db"))
        let task = try #require(try await store.find(uuid))
        #expect(task.state == .fetching)
        #expect(task.errorCode == nil)
        #expect(task.upstreamID != nil)
    }

    /// A task cancelled while its video downloads: the file the worker then stores is refused by
    /// the store (the task ended) and removed, never left unrecorded where no sweep finds it.
    @Test func aVideoStoredAfterItsTaskWasCancelledIsRemoved() async throws {
        let fal = try FakeFal(video: fakeVideo)
        fal.holdMedia.withLock { $0 = true }
        let log = try LogPipe()
        defer { log.close() }
        let gw = try await TestGateway.startWithUpstreams(fal: fal, logFD: log.writeFD)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash", "positivePrompt": "a fox"])
        while fal.mediaRequests.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await gw.request("POST", "/v1/tasks/\(uuid)/cancel", key: TestGateway.opsKey).body["state"] == "cancelled")
        fal.holdMedia.withLock { $0 = false }  // the download completes after the cancel
        let line = try await log.waitFor("removed a result stored after its task ended")
        let video = try #require(line["result"]?.string)
        #expect(!FileManager.default.fileExists(atPath: "\(gw.app.configuration.mediaDirectory)/\(video).mp4"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: gw.app.configuration.mediaDirectory).filter { $0.contains(video) }
        #expect(leftovers.isEmpty)
        await gw.stop()
    }

    @Test func falErrorsAndCancel() async throws {
        let fal = try FakeFal(video: fakeVideo)
        fal.failWith.withLock { $0 = "Prompt could not be processed" }
        let gw = try await TestGateway.startWithUpstreams(fal: fal)
        let (failed, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let error = try #require(try await gw.waitUntilDone(failed).data.first?["error"])
        #expect(error["code"] == "invalidInput" && error["message"]?.string?.contains("Prompt could not be processed") == true)
        fal.failWith.withLock { $0 = nil }
        fal.pollsBeforeDone.withLock { $0 = 100_000 }
        let (slow, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        // Wait until this (second) request is being polled at fal, i.e. it has an upstream id.
        var polled = false
        for _ in 0..<400 where !polled {
            polled = fal.requests.contains { $0.path.hasSuffix("/req2/status") }
            if !polled { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(polled)
        #expect(try await gw.request("POST", "/v1/tasks/\(slow)/cancel").status == 200)
        #expect(fal.requests.contains { $0.method == "PUT" && $0.path == "/google/gemini-omni-flash/requests/req2/cancel" })
        await gw.stop()
    }

    @Test func runwareUpstreamEndToEndWithItsOwnCost() async throws {
        let runware = try FakeRunware(video: fakeVideo)
        let gw = try await TestGateway.startWithUpstreams(runware: runware)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash", "numberResults": 2, "includeCost": true])
        let reply = try await gw.waitUntilDone(uuid)
        #expect(reply.data.count == 2 && reply.data.allSatisfy { $0["status"] == "success" })
        #expect(reply.data.allSatisfy { $0["cost"]?.number == 0.25 })  // Runware's own cost, not the price table
        let submit = try JSONParser.parse(try #require(runware.requests.first).body)
        let task = try #require(submit.array?.first)
        #expect(task["taskType"] == "videoInference" && task["taskUUID"]?.string == uuid && task["deliveryMethod"] == "async")
        #expect(task["model"] == "google:gemini@omni-flash" && task["numberResults"] == 2)
        #expect(runware.requests.dropFirst().allSatisfy { (try? JSONParser.parse($0.body))?.array?.first?["taskType"] == "getResponse" })
        await gw.stop()
    }

    @Test func runwareErrorItemsFailTheTaskAndConflictMeansAccepted() async throws {
        let runware = try FakeRunware(video: fakeVideo)
        runware.failWith.withLock { $0 = "NSFW content detected" }
        let gw = try await TestGateway.startWithUpstreams(runware: runware)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        #expect(try await gw.waitUntilDone(uuid).data.first?["error"]?["code"] == "contentPolicyViolation")
        await gw.stop()
        // A submit retried after a lost answer: Runware says conflictTaskUUID, which is "accepted".
        let direct = try FakeRunware(video: fakeVideo)
        let again = UUID().uuidString.lowercased()
        let body = #"[{"taskType":"videoInference","taskUUID":"\#(again)","model":"x:y@1","positivePrompt":"p"}]"#
        let gw2 = try await TestGateway.startWithUpstreams(runware: direct)
        let client = try RawHTTPClient(port: direct.server.port)
        try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer runware-key\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(try await client.readResponse().status == 200)
        let (uuid2, ack) = try await gw2.submit(["model": "google:gemini@omni-flash"], uuid: again)
        #expect(ack.status == 200 && uuid2 == again)
        #expect(try await gw2.waitUntilDone(again).data.first?["status"] == "success")
        await gw2.stop()
    }

    @Test func taskAPIProfileEndToEndAndFailure() async throws {
        let api = try FakeTaskAPI(video: fakeVideo)
        let gw = try await TestGateway.startWithUpstreams(taskapi: api)
        let (uuid, _) = try await gw.submit(["model": "evolink:omni-i2v@1", "positivePrompt": "a cat", "negativePrompt": "dialogue",
                                             "duration": 7, "aspectRatio": "9:16", "inputs": ["frameImages": [.string("data:image/png;base64,\(png)")]]])
        let reply = try await gw.waitUntilDone(uuid)
        #expect(Crypto.sha256(try await gw.mediaBytes(reply)) == Crypto.sha256(fakeVideo))
        let create = try #require(api.requests.first)
        #expect(create.path == "/v1/videos/generations" && create.headers["authorization"] == "Bearer taskapi-key")
        let body = try JSONParser.parse(create.body)
        #expect(body["model"] == "gemini-omni-flash-image-to-video" && body["prompt"] == "a cat\n\nAvoid: dialogue")
        #expect(body["duration"] == 7 && body["aspect_ratio"] == "9:16" && body["image_urls"] == [.string("data:image/png;base64,\(png)")])
        api.failWith.withLock { $0 = "image rejected by safety review" }
        let (bad, _) = try await gw.submit(["model": "evolink:omni-i2v@1"])
        let error = try #require(try await gw.waitUntilDone(bad).data.first?["error"])
        #expect(error["code"] == "contentPolicyViolation" && error["message"]?.string?.contains("safety review") == true)
        await gw.stop()
    }

    @Test func taskAPIFieldNamesComeFromConfig() async throws {
        // Another aggregator's shape, described in config only.
        let router = RouterBuilder()
        let seen = Mutex<[String]>([])
        router.post("/api/jobs") { request in
            seen.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return .jsonBytes(Array(#"{"job":{"ref":"J1"}}"#.utf8))
        }
        let box = Mutex(0)
        router.get("/api/jobs/:id") { request in
            let n = box.withLock { n in n += 1; return n }
            let port = request.headers["host"]?.split(separator: ":").last ?? ""
            return .jsonBytes(Array((n < 2 ? #"{"state":"running","pct":30}"# : #"{"state":"succeeded","output":{"video":"http://127.0.0.1:\#(port)/media/x.mp4"}}"#).utf8))
        }
        router.get("/media/:file") { _ in HTTPResponse(status: .ok, bytes: fakeVideo) }
        let other = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        try other.start()
        let gw = try await TestGateway.startWithUpstreams { config in
            var entry = TaskAPISettings.Entry(name: "other", baseURL: "http://127.0.0.1:\(other.port)")
            entry.apiKey = "k"
            entry.authHeader = "X-Api-Key"
            entry.authPrefix = ""
            entry.createPath = "/api/jobs"
            entry.queryPath = "/api/jobs/{id}"
            entry.promptField = "input.text"
            entry.idField = "job.ref"
            entry.statusField = "state"
            entry.progressField = "pct"
            entry.resultsField = "output.video"
            entry.pollIntervalSeconds = 0.05
            config.providers.taskapi = [entry]
            config.models["other:video@1"] = [.init(provider: "other", model: "m1")]
        }
        let (uuid, _) = try await gw.submit(["model": "other:video@1", "positivePrompt": "a boat"])
        let reply = try await gw.waitUntilDone(uuid)
        #expect(Crypto.sha256(try await gw.mediaBytes(reply)) == Crypto.sha256(fakeVideo))
        #expect(seen.withLock { $0.first }?.contains(#""input":{"text":"a boat"}"#) == true)
        await gw.stop()
        await other.shutdown(gracePeriod: .milliseconds(10))
    }

    @Test func fallbackAcrossGeminiFalAndRunware() async throws {
        let gemini = try FakeGemini(video: fakeVideo)
        let fal = try FakeFal(video: fakeVideo)
        let runware = try FakeRunware(video: fakeVideo)
        let down = FakeGemini.Fault.status(503, body: #"{"error":{"code":503,"message":"down","status":"UNAVAILABLE"}}"#)
        gemini.inject([down])
        let gw = try await TestGateway.startWithUpstreams(fal: fal, runware: runware, gemini: gemini)
        let (first, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        #expect(try await gw.waitUntilDone(first).data.first?["status"] == "success")
        #expect(try await gw.request("GET", "/v1/tasks/\(first)", key: TestGateway.opsKey).body["provider"] == "fal")
        gemini.inject([down])
        fal.inject([.status(502, body: #"{"detail":"bad gateway"}"#)])
        let (second, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        #expect(try await gw.waitUntilDone(second).data.first?["status"] == "success")
        #expect(try await gw.request("GET", "/v1/tasks/\(second)", key: TestGateway.opsKey).body["provider"] == "runware")
        await gw.stop()
    }
}
