import Domain
import Foundation
import Gateway
import Store
import TestSupport
import SQLite
import Testing

@Suite("Task API", .timeLimit(.minutes(2)), .stopsGateways)
struct TaskAPITests {
    @Test func submitAcksThenResultsSucceedTogether() async throws {
        let gw = try await TestGateway.start()
        let (uuid, ack) = try await gw.submit(["numberResults": 3, "seed": 100, "includeCost": true, "duration": 4])
        #expect(ack.status == 200)
        #expect(ack.body == ["data": [["taskType": "videoInference", "taskUUID": .string(uuid)]]])
        #expect(ack.body["errors"] == nil)

        let early = try await gw.getResponse(uuid)
        #expect(early.data.count == 3)
        for item in early.data where item["status"]?.string == "processing" {
            #expect(item["videoUUID"]?.string != nil)
            #expect(item["videoURL"] == nil && item["progress"] != nil)
        }

        let done = try await gw.waitUntilDone(uuid)
        #expect(done.data.allSatisfy { $0["status"]?.string == "success" })
        #expect(Set(done.data.compactMap { $0["videoUUID"]?.string }).count == 3)
        #expect(done.data.compactMap { $0["seed"]?.integer } == [100, 101, 102])
        #expect(done.data.allSatisfy { $0["cost"]?.number == 0.4 })
        await gw.stop()
    }

    @Test func sameTaskUUIDSameBodyIsIdempotentDifferentBodyConflicts() async throws {
        let gw = try await TestGateway.start()
        let uuid = UUID().uuidString.lowercased()
        let (_, first) = try await gw.submit(["duration": 5], uuid: uuid)
        let (_, again) = try await gw.submit(["duration": 5], uuid: uuid)
        #expect(first.status == 200 && again.status == 200)
        #expect(again.body == first.body)
        let (_, changed) = try await gw.submit(["duration": 6], uuid: uuid)
        #expect(changed.status == 409)
        #expect(changed.errors.first?["code"] == "conflictTaskUUID")
        #expect(changed.errors.first?["taskUUID"]?.string == uuid)
        // Another key reusing the id is a conflict too, never a view of alice's task.
        let (_, other) = try await gw.submit(["duration": 5], uuid: uuid, key: TestGateway.bob)
        #expect(other.status == 409)
        await gw.stop()
    }

    @Test func tasksInOneRequestSucceedOrFailIndependently() async throws {
        let gw = try await TestGateway.start()
        let good = UUID().uuidString.lowercased(), bad = UUID().uuidString.lowercased()
        let reply = try await gw.post([
            ["taskType": "videoInference", "taskUUID": .string(good), "model": "reelgate:simulator@1", "positivePrompt": "ok prompt"],
            ["taskType": "videoInference", "taskUUID": .string(bad), "model": "reelgate:simulator@1", "positivePrompt": "ok prompt", "fps": 500],
            ["taskType": "ping"],
        ])
        #expect(reply.status == 400)
        #expect(reply.data.contains(["taskType": "videoInference", "taskUUID": .string(good)]))
        #expect(reply.data.contains(["taskType": "ping", "pong": true]))
        #expect(reply.errors == [["code": "invalidFps", "message": "fps must be an integer from 1 to 60", "parameter": "fps",
                                  "taskType": "videoInference", "taskUUID": .string(bad)]])
        // The accepted one was stored and runs.
        #expect(try await gw.waitUntilDone(good).data.first?["status"] == "success")
        await gw.stop()
    }

    @Test func authenticationRules() async throws {
        let gw = try await TestGateway.start()
        let missing = try await gw.post([["taskType": "ping"]], key: nil)
        #expect(missing.status == 401 && missing.errors.first?["code"] == "missingApiKey")
        let wrong = try await gw.post([["taskType": "ping"]], key: "wrong-key-wrong-key-wrong")
        #expect(wrong.status == 401 && wrong.errors.first?["code"] == "invalidApiKey")
        #expect(wrong.errors.first?["taskType"] == "authentication")
        let viaTask = try await gw.post([["taskType": "authentication", "apiKey": .string(TestGateway.bob)], ["taskType": "ping"]], key: nil)
        #expect(viaTask.status == 200 && viaTask.data == [["taskType": "ping", "pong": true]])
        let ops = try await gw.request("GET", "/v1/tasks", key: nil)
        #expect(ops.status == 401)
        await gw.stop()
    }

    /// A key in an authentication task outranks the header's, which was checked when the head
    /// was admitted: the body's key is the one the tasks run under, and a bad one is refused.
    @Test func aKeyInTheBodyOutranksTheHeaders() async throws {
        let gw = try await TestGateway.start()
        let (alicesTask, _) = try await gw.submit()
        let badBodyKey = try await gw.post([["taskType": "authentication", "apiKey": "wrong-key-wrong-key-wrong"], ["taskType": "ping"]],
                                           key: TestGateway.alice)
        #expect(badBodyKey.status == 401 && badBodyKey.errors.first?["code"] == "invalidApiKey")
        let asBob = try await gw.post([["taskType": "authentication", "apiKey": .string(TestGateway.bob)],
                                       ["taskType": "getResponse", "taskUUID": .string(alicesTask)]], key: TestGateway.alice)
        #expect(asBob.errors.first?["code"] == "taskNotFound", "\(asBob.body)")
        let asAlice = try await gw.post([["taskType": "getResponse", "taskUUID": .string(alicesTask)]], key: TestGateway.alice)
        #expect(asAlice.status == 200 && asAlice.errors.isEmpty, "\(asAlice.body)")
        await gw.stop()
    }

    @Test func clientKeysSeeOnlyTheirOwnTasks() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit()
        let bobPoll = try await gw.getResponse(uuid, key: TestGateway.bob)
        #expect(bobPoll.status == 404 && bobPoll.errors.first?["code"] == "taskNotFound")
        #expect(try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.bob).status == 404)
        #expect(try await gw.request("POST", "/v1/tasks/\(uuid)/cancel", key: TestGateway.bob).status == 404)
        let bobList = try await gw.request("GET", "/v1/tasks", key: TestGateway.bob)
        #expect(bobList.body["tasks"]?.array?.isEmpty == true)
        let aliceView = try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.alice)
        #expect(aliceView.status == 200 && aliceView.body["taskUUID"]?.string == uuid)
        let opsView = try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        #expect(opsView.status == 200 && opsView.body["apiKey"] == "alice")
        await gw.stop()
    }

    @Test func requestErrorsAreSpecific() async throws {
        let gw = try await TestGateway.start()
        let notJSON = try await gw.request("POST", "/v1", body: "{nope")
        #expect(notJSON.status == 400 && notJSON.errors.first?["code"] == "invalidJSON")
        let scalar = try await gw.request("POST", "/v1", body: "42")
        #expect(scalar.status == 400 && scalar.errors.first?["code"] == "invalidRequest")
        let empty = try await gw.request("POST", "/v1", body: "[]")
        #expect(empty.status == 400)
        let unknownType = try await gw.post([["taskType": "imageInference", "taskUUID": "0f8b7c3e-5a8d-4c3b-9f8e-2d1c0b9a8e7f"]])
        #expect(unknownType.status == 400 && unknownType.errors.first?["code"] == "unsupportedTaskType")
        #expect(unknownType.errors.first?["taskUUID"] == "0f8b7c3e-5a8d-4c3b-9f8e-2d1c0b9a8e7f")
        let noType = try await gw.post([["taskUUID": "0f8b7c3e-5a8d-4c3b-9f8e-2d1c0b9a8e7f"]])
        #expect(noType.errors.first?["code"] == "missingTaskType")
        // A single object (not an array) is accepted, and POST / is an alias.
        let single = try await gw.request("POST", "/", body: #"{"taskType":"ping"}"#)
        #expect(single.status == 200 && single.data == [["taskType": "ping", "pong": true]])
        await gw.stop()
    }

    @Test func base64AndDataURIOutputs() async throws {
        let gw = try await TestGateway.start()
        let (a, _) = try await gw.submit(["outputType": "base64Data", "outputFormat": "WEBM"])
        let (b, _) = try await gw.submit(["outputType": "dataURI", "outputFormat": "MOV", "aspectRatio": "9:16"])
        let base64 = try await gw.waitUntilDone(a).data.first?["videoBase64Data"]?.string
        let webm = try #require(Data(base64Encoded: base64 ?? ""))
        #expect(Array(webm.prefix(4)) == [0x1A, 0x45, 0xDF, 0xA3])  // EBML: a real WebM
        let uri = try await gw.waitUntilDone(b).data.first?["videoDataURI"]?.string ?? ""
        #expect(uri.hasPrefix("data:video/quicktime;base64,"))
        await gw.stop()
    }

    @Test func mediaURLsAreSignedExpiringAndSeekable() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit(["outputFormat": "MOV"])
        let url = try #require(try await gw.waitUntilDone(uuid).data.first?["videoURL"]?.string)
        let path = String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
        let whole = try await gw.request("GET", path, key: nil)
        #expect(whole.status == 200)
        #expect(whole.headers["content-type"] == "video/quicktime")
        #expect(whole.headers["accept-ranges"] == "bytes")
        let part = try await gw.request("GET", path, key: nil, headers: ["Range: bytes=10-19"])
        #expect(part.status == 206)
        #expect(part.headers["content-range"]?.hasPrefix("bytes 10-19/") == true)
        #expect(part.headers["content-length"] == "10")
        let beyond = try await gw.request("GET", path, key: nil, headers: ["Range: bytes=99999999-"])
        #expect(beyond.status == 416)
        let forged = try await gw.request("GET", path.replacingOccurrences(of: "exp=", with: "exp=9"), key: nil)
        #expect(forged.status == 403)
        await gw.stop()
    }

    @Test func cancelIsIdempotentAndShowsOnPolls() async throws {
        let gw = try await TestGateway.start { $0.providers.simulator.latencySeconds = 30 }
        let (uuid, _) = try await gw.submit()
        let cancelled = try await gw.request("POST", "/v1/tasks/\(uuid)/cancel")
        #expect(cancelled.status == 200 && cancelled.body["state"] == "cancelled")
        #expect(try await gw.request("POST", "/v1/tasks/\(uuid)/cancel").body["state"] == "cancelled")
        let poll = try await gw.getResponse(uuid)
        #expect(poll.data.first?["status"] == "error")
        #expect(poll.data.first?["error"]?["code"] == "taskCancelled")
        await gw.stop()
    }

    @Test func providerFailuresReachThePoller() async throws {
        let gw = try await TestGateway.start { $0.providers.simulator.failureRate = 1 }
        let (failing, _) = try await gw.submit()
        let (unsafe, _) = try await gw.submit(["positivePrompt": "[simulate:unsafe] something"])
        let failed = try await gw.waitUntilDone(failing)
        #expect(failed.data.first?["status"] == "error" && failed.data.first?["error"]?["code"] == "providerError")
        let blocked = try await gw.waitUntilDone(unsafe)
        #expect(blocked.data.first?["error"]?["code"] == "contentPolicyViolation")
        let detail = try await gw.request("GET", "/v1/tasks/\(failing)", key: TestGateway.opsKey)
        #expect(detail.body["state"] == "failed")
        let states = detail.body["events"]?.array?.compactMap { $0["state"]?.string } ?? []
        #expect(states == ["queued", "dispatching", "running", "failed"])
        await gw.stop()
    }

    @Test func imageUploadThenUseTheUUID() async throws {
        let gw = try await TestGateway.start()
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).base64EncodedString()
        let upload = try await gw.post([["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()), "image": .string("data:image/png;base64,\(png)")]])
        let imageUUID = try #require(upload.data.first?["imageUUID"]?.string)
        let (uuid, ack) = try await gw.submit(["inputs": ["referenceImages": [.string(imageUUID)]]])
        #expect(ack.status == 200)
        let done = try await gw.waitUntilDone(uuid)
        #expect(done.data.first?["status"] == "success")
        let videoUUID = try #require(done.data.first?["videoUUID"]?.string)
        #expect(try await gw.submit(["inputs": ["videoId": .string(videoUUID)]]).1.status == 200)
        #expect(try await gw.submit(["inputs": ["videoId": .string(videoUUID)]], key: TestGateway.bob).1.status == 400)
        // A UUID that was never uploaded, or that another key uploaded, is refused at submit.
        let (_, unknown) = try await gw.submit(["inputs": ["referenceImages": [.string(UUID().uuidString.lowercased())]]])
        #expect(unknown.status == 400 && unknown.errors.first?["code"] == "imageNotFound")
        #expect(unknown.errors.first?["parameter"] == "inputs.referenceImages[0]")
        let (_, foreign) = try await gw.submit(["inputs": ["frameImages": [.string(imageUUID)]]], key: TestGateway.bob)
        #expect(foreign.status == 400 && foreign.errors.first?["code"] == "imageNotFound")
        let (_, noVideo) = try await gw.submit(["inputs": ["videoId": .string(UUID().uuidString.lowercased())]])
        #expect(noVideo.status == 400 && noVideo.errors.first?["code"] == "videoNotFound")
        let notImage = try await gw.post([["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()), "image": "aGVsbG8="]])
        #expect(notImage.status == 400 && notImage.errors.first?["code"] == "invalidImage")
        await gw.stop()
    }

    @Test func taskListFiltersAndPages() async throws {
        let gw = try await TestGateway.start()
        var ids: [String] = []
        for _ in 0..<5 { ids.append(try await gw.submit().0) }
        let page1 = try await gw.request("GET", "/v1/tasks?limit=3", key: TestGateway.opsKey)
        let first = page1.body["tasks"]?.array?.compactMap { $0["taskUUID"]?.string } ?? []
        #expect(first.count == 3)
        let cursor = try #require(page1.body["nextCursor"]?.string)
        let page2 = try await gw.request("GET", "/v1/tasks?limit=3&cursor=\(cursor)", key: TestGateway.opsKey)
        let second = page2.body["tasks"]?.array?.compactMap { $0["taskUUID"]?.string } ?? []
        #expect(Set(first + second) == Set(ids))
        #expect(try await gw.request("GET", "/v1/tasks?state=bogus", key: TestGateway.opsKey).status == 400)
        let none = try await gw.request("GET", "/v1/tasks?model=acme:none@1", key: TestGateway.opsKey)
        #expect(none.body["tasks"]?.array?.isEmpty == true)
        await gw.stop()
    }

    @Test func secondInstanceOnTheSameDataDirIsRefused() async throws {
        let gw = try await TestGateway.start()
        var config = Configuration()
        config.listen = "127.0.0.1:0"
        config.dataDir = gw.dir.path
        #expect(throws: (any Error).self) { try Application(configuration: config, logger: Logger(minimum: .error)) }
        await gw.stop()
    }
}

@Suite("per-key limits", .timeLimit(.minutes(1)), .stopsGateways)
struct KeyLimitTests {
    @Test func rateLimitAnswers429WithRetryAfter() async throws {
        let gw = try await TestGateway.start { config in
            config.apiKeys[1].tasksPerMinute = 3  // alice
        }
        for _ in 0..<3 { #expect(try await gw.submit().1.status == 200) }
        let (_, limited) = try await gw.submit()
        #expect(limited.status == 429)
        #expect(limited.errors.first?["code"] == "rateLimitExceeded")
        #expect(limited.headers["retry-after"] != nil)
        // Other keys are not affected.
        #expect(try await gw.submit(key: TestGateway.bob).1.status == 200)
        await gw.stop()
    }

    @Test func inFlightCapRefusesUntilTasksFinish() async throws {
        let gw = try await TestGateway.start { config in
            config.apiKeys[1].maxInFlight = 2
            config.providers.simulator.latencySeconds = 3  // far longer than three submits take on a loaded machine
        }
        let (a, _) = try await gw.submit()
        let (b, _) = try await gw.submit()
        let (_, refused) = try await gw.submit()
        #expect(refused.status == 429 && refused.errors.first?["code"] == "tooManyTasksInFlight")
        _ = try await gw.waitUntilDone(a)
        _ = try await gw.waitUntilDone(b)
        #expect(try await gw.app.store.inFlight(keyName: "alice") == 0)
        #expect(try await gw.submit().1.status == 200)
        await gw.stop()
    }
}

@Suite("media lifetime and budget", .timeLimit(.minutes(1)), .stopsGateways)
struct MediaLifetimeTests {
    @Test func expiredMediaIsSweptAndItsURLStopsServing() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit(["ttl": 60])
        let url = try #require(try await gw.waitUntilDone(uuid).data.first?["videoURL"]?.string)
        let path = String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
        #expect(try await gw.request("GET", path, key: nil).status == 200)
        #expect(try await gw.app.janitor.sweep(now: Date().timeIntervalSince1970 + 30) == 0)  // not yet expired
        #expect(try await gw.app.janitor.sweep(now: Date().timeIntervalSince1970 + 61) == 1)
        #expect(gw.app.janitor.bytesInUse == 0)
        #expect(try await gw.request("GET", path, key: nil).status == 404)
        await gw.stop()
    }

    /// Media that cannot be deleted (here: recorded in a bucket this gateway has no store for)
    /// is passed over: a sweep still removes what it can, however many come first.
    @Test func undeletableMediaDoesNotHoldUpTheSweep() async throws {
        let gw = try await TestGateway.start()
        var videos: [String] = []
        for _ in 0..<3 {
            let (uuid, _) = try await gw.submit(["ttl": 60])
            videos.append(try #require(try await gw.waitUntilDone(uuid).data.first?["videoUUID"]?.string))
        }
        // Blocking SQLite work goes off the cooperative pool, as the gateway's own does.
        let path = gw.dir.file("reelgate.db"), undeletable = Array(videos.prefix(2))
        try await BlockingIO.run {
            let db = try Database(path: path)
            for video in undeletable { try db.execute("UPDATE results SET media_path = 's3:gone/' || video_uuid WHERE video_uuid = ?", [video]) }
        }
        // One at a time, the two undeletable ones first in expiry order: the third still goes.
        #expect(try await gw.app.janitor.sweep(now: Date().timeIntervalSince1970 + 61, limit: 1) == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(gw.app.configuration.mediaDirectory)/\(videos[2]).mp4"))
        #expect(try await gw.app.store.expiredMedia(before: Date().timeIntervalSince1970 + 61, limit: 10, skipping: 0).map(\.id) == Array(videos.prefix(2)))
        await gw.stop()
    }

    @Test func fullBudgetRefusesNewWorkWith507() async throws {
        let gw = try await TestGateway.start { $0.media.maxBytes = 1 }
        let (first, _) = try await gw.submit(["ttl": 60])
        _ = try await gw.waitUntilDone(first)
        #expect(gw.app.janitor.bytesInUse > 1)
        let (_, refused) = try await gw.submit()
        #expect(refused.status == 507)
        #expect(refused.errors.first?["code"] == "insufficientStorage")
        // Once the media expires and is evicted, work is accepted again.
        try await gw.app.janitor.sweep(now: Date().timeIntervalSince1970 + 61)
        #expect(try await gw.submit().1.status == 200)
        await gw.stop()
    }
}

@Suite("outbound URL guard at submit", .stopsGateways)
struct SubmitURLGuardTests {
    @Test(arguments: [
        ("webhookURL", JSONValue.string("https://127.0.0.1/hook"), "invalidWebhookURL"),
        ("webhookURL", .string("https://2130706433/hook"), "invalidWebhookURL"),
        ("webhookURL", .string("http://example.com/hook"), "invalidWebhookURL"),
        ("uploadEndpoint", .string("https://[::ffff:169.254.169.254]/put"), "invalidUploadEndpoint"),
        ("uploadEndpoint", .string("https://user:pw@example.com/put"), "invalidUploadEndpoint"),
        ("inputs", JSONValue.object(["referenceImages": .array([.string("https://169.254.169.254/latest/x.png")])]), "invalidInputURL"),
        ("inputs", JSONValue.object(["video": .string("https://[fd00::1]/v.mp4")]), "invalidInputURL"),
    ])
    func hostileURLsAreRefusedAtSubmit(field: String, value: JSONValue, code: String) async throws {
        let gw = try await TestGateway.start()
        let (_, reply) = try await gw.submit([field: value])
        #expect(reply.status == 400)
        #expect(reply.errors.first?["code"]?.string == code)
        #expect(reply.errors.first?["message"]?.string?.contains("refused") == true)
        await gw.stop()
    }

    @Test func allowListsLetTestReceiversThrough() async throws {
        let gw = try await TestGateway.start { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
        }
        let (_, reply) = try await gw.submit(["webhookURL": "http://127.0.0.1:9/hook"])
        #expect(reply.status == 200)
        await gw.stop()
    }
}
