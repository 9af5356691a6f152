import Domain
import Foundation
import Gateway
import HTTP1
import TestSupport
import Testing

/// The OpenAI-compatible video API (SPEC §18) at the HTTP level: its error shape and statuses,
/// strict parsing of JSON and multipart, tenancy, and the lifecycle seen through it. The official
/// SDK drives the same routes in Tests/conformance/test_openai_sdk.py.
@Suite("OpenAI video API", .timeLimit(.minutes(2)), .stopsGateways)
struct OpenAIVideoTests {
    static let json = "Content-Type: application/json"

    func create(_ gw: TestGateway, _ body: String, key: String? = TestGateway.alice) async throws -> TestGateway.Reply {
        try await gw.request("POST", "/v1/videos", body: body, key: key, headers: [Self.json])
    }

    /// A multipart body as an SDK sends it; `file` adds an `input_reference` file part.
    func multipart(_ fields: [(String, String)], file: [UInt8]? = nil, boundary: String = "b0undary") -> (String, [UInt8]) {
        var body: [UInt8] = []
        for (name, value) in fields {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        if let file {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"input_reference\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n".utf8)
            body += file + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return ("Content-Type: multipart/form-data; boundary=\(boundary)", body)
    }

    func post(_ gw: TestGateway, _ path: String, contentType: String, body: [UInt8], key: String = TestGateway.alice) async throws -> TestGateway.Reply {
        let client = try RawHTTPClient(port: gw.port)
        let head = "POST \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer \(key)\r\n\(contentType)\r\nContent-Length: \(body.count)\r\n\r\n"
        try await client.send(Array(head.utf8) + body)
        let response = try await client.readResponse()
        return TestGateway.Reply(status: response.status, body: (try? JSONParser.parse(response.body)) ?? .null, headers: response.headers)
    }

    func poll(_ gw: TestGateway, _ id: String, key: String = TestGateway.alice) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let video = try await gw.request("GET", "/v1/videos/\(id)", key: key).body
            if video["status"] == "completed" || video["status"] == "failed" { return video }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessError("video \(id) did not finish")
    }

    func expectError(_ reply: TestGateway.Reply, _ status: Int, param: String?, type: String = "invalid_request_error",
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, sourceLocation: sourceLocation)
        let error = reply.body["error"]
        #expect(error?["type"]?.string == type && error?["message"]?.string?.isEmpty == false, "\(reply.body)", sourceLocation: sourceLocation)
        #expect(error?["param"] == (param.map { .string($0) } ?? .null), "\(reply.body)", sourceLocation: sourceLocation)
        #expect(error?.object?.keys.sorted() == ["code", "message", "param", "type"], sourceLocation: sourceLocation)
    }

    @Test func aVideoFromJSONIsATaskThatCompletesAndStreams() async throws {
        let gw = try await TestGateway.start()
        let made = try await create(gw, #"{"model":"reelgate-simulator","prompt":"a lighthouse","seconds":"5","size":"1920x1080"}"#)
        #expect(made.status == 200 && made.headers["openai-poll-after-ms"] != nil)
        let id = try #require(made.body["id"]?.string)
        // Read back once stored: on a loaded machine a worker may have taken it (or finished it) already.
        #expect(made.body["object"] == "video" && ["queued", "in_progress", "completed"].contains(made.body["status"]?.string ?? ""), "\(made.body)")
        #expect(made.body["status"] != "queued" || made.body["progress"] == 0)
        #expect(made.body["seconds"] == "5" && made.body["size"] == "1920x1080" && made.body["model"] == "reelgate-simulator")
        #expect(made.body["completed_at"] == .null && made.body["remixed_from_video_id"] == .null && made.body["error"] == .null)
        let done = try await poll(gw, id)
        #expect(done["status"] == "completed" && done["progress"] == 100 && done["expires_at"]?.integer != nil)

        // The same task in the ops API, with the Runware fields the API mapped to.
        let taskUUID = String(id.dropFirst(6))
        let dashed = [8, 4, 4, 4, 12].reduce(into: (parts: [String](), rest: Substring(taskUUID))) { acc, n in
            acc.parts.append(String(acc.rest.prefix(n)))
            acc.rest = acc.rest.dropFirst(n)
        }.parts.joined(separator: "-")
        let task = try await gw.request("GET", "/v1/tasks/\(dashed)", key: TestGateway.opsKey)
        #expect(task.body["request"]?["duration"] == 5 && task.body["request"]?["aspectRatio"] == "16:9" && task.body["request"]?["resolution"] == "1080p")
        #expect(task.body["openaiVideoId"]?.string == id)

        let whole = try await gw.fetchAuthorized("/v1/videos/\(id)/content")
        #expect(whole.status == 200 && whole.headers["content-type"] == "video/mp4" && whole.body.count > 1000)
        let part = try await gw.fetchAuthorized("/v1/videos/\(id)/content", headers: ["Range: bytes=10-19"])
        #expect(part.status == 206 && part.body == Array(whole.body[10...19]))
        let thumbnail = try await gw.request("GET", "/v1/videos/\(id)/content?variant=thumbnail")
        expectError(thumbnail, 404, param: "variant")

        // Deleted: its media is gone, and the Runware API says so rather than handing out a dead link.
        #expect(try await gw.request("DELETE", "/v1/videos/\(id)").status == 200)
        let item = try #require(try await gw.getResponse(dashed).data.first)
        #expect(item["status"] == "error" && item["error"]?["code"] == "mediaExpired" && item["videoURL"] == nil)
        expectError(try await gw.request("GET", "/v1/videos/\(id)/content"), 404, param: "video_id")
    }

    @Test func errorsAreInOpenAIsShapeAndNameTheField() async throws {
        let gw = try await TestGateway.start()
        expectError(try await create(gw, #"{"prompt":"x"}"#, key: nil), 401, param: nil, type: "authentication_error")
        expectError(try await create(gw, #"{"prompt":"x"}"#, key: "wrong"), 401, param: nil, type: "authentication_error")
        expectError(try await gw.request("GET", "/v1/videos", key: nil), 401, param: nil, type: "authentication_error")
        expectError(try await create(gw, #"{"model":"reelgate-simulator"}"#), 400, param: "prompt")
        expectError(try await create(gw, #"{"prompt":"   "}"#), 400, param: "prompt")
        expectError(try await create(gw, #"{"prompt":"\#(String(repeating: "a", count: 32_001))"}"#), 400, param: "prompt")
        for seconds in [#""99""#, #""2""#, #""8.0""#, #""08""#, #""four""#, "true"] {
            expectError(try await create(gw, #"{"model":"reelgate-simulator","prompt":"a cat","seconds":\#(seconds)}"#), 400, param: "seconds")
        }
        expectError(try await create(gw, #"{"model":"reelgate-simulator","prompt":"a cat","size":"640x480"}"#), 400, param: "size")
        expectError(try await create(gw, #"{"model":"gpt-9","prompt":"a cat"}"#), 400, param: "model")
        expectError(try await create(gw, #"{"prompt":"a cat","colour":"red"}"#), 400, param: "colour")
        expectError(try await create(gw, #"{"prompt":"a cat","input_reference":{"file_id":"file_1"}}"#), 400, param: "input_reference.file_id")
        expectError(try await create(gw, #"{"prompt":"a cat","input_reference":"x"}"#), 400, param: "input_reference")
        expectError(try await create(gw, #"[1]"#), 400, param: nil)
        // A URL the outbound rules refuse is the task API's error, named as this API names it.
        expectError(try await create(gw, #"{"model":"reelgate-simulator","prompt":"a cat","input_reference":{"image_url":"http://10.0.0.1/a.png"}}"#),
                    400, param: "input_reference")
        let text = try await post(gw, "/v1/videos", contentType: "Content-Type: text/plain", body: Array("prompt=x".utf8))
        expectError(text, 400, param: nil)
        expectError(try await gw.request("GET", "/v1/videos/video_\(String(repeating: "0", count: 32))"), 404, param: "video_id")
        expectError(try await gw.request("GET", "/v1/videos/not-an-id"), 404, param: "video_id")
        expectError(try await gw.request("GET", "/v1/videos?limit=101"), 400, param: "limit")
        #expect(try await gw.request("GET", "/v1/videos?limit=0").body["data"] == [])
        // The API's later routes, and bodies over a route's limit, answer in this API's shape too.
        expectError(try await gw.request("POST", "/v1/videos/edits", body: "{}", headers: [Self.json]), 404, param: nil)
        expectError(try await gw.request("GET", "/v1/videos/characters/char_1"), 404, param: nil)
        let big = #"{"prompt":"\#(String(repeating: "a", count: 70_000))"}"#
        expectError(try await gw.request("POST", "/v1/videos/video_\(String(repeating: "2", count: 32))/remix", body: big, headers: [Self.json]),
                    413, param: nil)
        // A JSON body with a huge array is refused, not built.
        let values = "[" + Array(repeating: "0", count: 1000).joined(separator: ",") + "]"
        expectError(try await create(gw, #"{"prompt":"a cat","model":\#(values)}"#), 400, param: nil)
        expectError(try await gw.request("GET", "/v1/videos?order=sideways"), 400, param: "order")
        expectError(try await gw.request("GET", "/v1/videos?after=video_\(String(repeating: "1", count: 32))"), 400, param: "after")
    }

    @Test func multipartCreatesAndIsStrict() async throws {
        let gw = try await TestGateway.start()
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 64)
        let (type, body) = multipart([("prompt", "a kite"), ("model", "reelgate-simulator"), ("seconds", "3")], file: png)
        let made = try await post(gw, "/v1/videos", contentType: type, body: body)
        #expect(made.status == 200 && made.body["seconds"] == "3" && made.body["size"] == "720x1280", "\(made.body)")

        let (dupType, dup) = multipart([("prompt", "a"), ("prompt", "b")])
        expectError(try await post(gw, "/v1/videos", contentType: dupType, body: dup), 400, param: "prompt")
        let (unknownType, unknown) = multipart([("prompt", "a"), ("quality", "hd")])
        expectError(try await post(gw, "/v1/videos", contentType: unknownType, body: unknown), 400, param: "quality")
        let (notImageType, notImage) = multipart([("prompt", "a kite"), ("model", "reelgate-simulator")], file: Array("not an image".utf8))
        expectError(try await post(gw, "/v1/videos", contentType: notImageType, body: notImage), 400, param: "input_reference")
        let (fileIdType, fileId) = multipart([("prompt", "a"), ("input_reference[file_id]", "file_1")])
        expectError(try await post(gw, "/v1/videos", contentType: fileIdType, body: fileId), 400, param: "input_reference.file_id")
        // Cut short, or without a boundary: malformed, said so, never a 500.
        let truncated = try await post(gw, "/v1/videos", contentType: type, body: Array(body.dropLast(10)))
        expectError(truncated, 400, param: nil)
        #expect(truncated.body["error"]?["code"] == "invalid_multipart")
        expectError(try await post(gw, "/v1/videos", contentType: "Content-Type: multipart/form-data", body: body), 400, param: nil)
    }

    @Test func anImageCostsNothingWhenItsTaskIsRefused() async throws {
        let gw = try await TestGateway.start { config in
            config.apiKeys = config.apiKeys.map { $0.name == "alice" ? .init(name: "alice", key: TestGateway.alice, role: .client, tasksPerMinute: 1) : $0 }
        }
        let images = "\(gw.app.configuration.mediaDirectory)/images"
        func stored() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: images).count) ?? 0 }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 64)
        // Refused by validation: the image is never written.
        let (badType, bad) = multipart([("prompt", "a kite"), ("model", "reelgate-simulator"), ("size", "1x1")], file: png)
        expectError(try await post(gw, "/v1/videos", contentType: badType, body: bad), 400, param: "size")
        #expect(stored() == 0)
        let (type, body) = multipart([("prompt", "a kite"), ("model", "reelgate-simulator")], file: png)
        #expect(try await post(gw, "/v1/videos", contentType: type, body: body).status == 200)
        #expect(stored() == 1)
        // Refused after the image was written (the key's rate limit): it goes again.
        let limited = try await post(gw, "/v1/videos", contentType: type, body: body)
        expectError(limited, 429, param: nil, type: "rate_limit_error")
        #expect(limited.headers["retry-after"] != nil)
        #expect(stored() == 1)
    }

    @Test func anIdempotencyKeyMakesARetryTheSameVideo() async throws {
        let gw = try await TestGateway.start()
        let body = #"{"model":"reelgate-simulator","prompt":"once only"}"#
        let first = try await gw.request("POST", "/v1/videos", body: body, headers: [Self.json, "Idempotency-Key: abc-123"])
        let again = try await gw.request("POST", "/v1/videos", body: body, headers: [Self.json, "Idempotency-Key: abc-123"])
        #expect(first.status == 200 && again.status == 200 && first.body["id"] == again.body["id"])
        #expect(first.headers["x-should-retry"] == "false")  // accepted: the SDK must not retry it into a second video
        // The same header from another key is another video.
        let bobs = try await gw.request("POST", "/v1/videos", body: body, key: TestGateway.bob, headers: [Self.json, "Idempotency-Key: abc-123"])
        #expect(bobs.status == 200 && bobs.body["id"] != first.body["id"])
        #expect(try await gw.request("GET", "/v1/videos").body["data"]?.array?.count == 1)
        // A different body under the same key is a conflict, not a silent second video.
        let other = try await gw.request("POST", "/v1/videos", body: #"{"model":"reelgate-simulator","prompt":"another"}"#,
                                         headers: [Self.json, "Idempotency-Key: abc-123"])
        expectError(other, 409, param: "Idempotency-Key")
    }

    @Test func anotherKeysVideoAndARunwareTaskAreNotFound() async throws {
        let gw = try await TestGateway.start()
        let made = try await create(gw, #"{"model":"reelgate-simulator","prompt":"mine"}"#)
        let id = try #require(made.body["id"]?.string)
        for (method, path) in [("GET", "/v1/videos/\(id)"), ("DELETE", "/v1/videos/\(id)"), ("GET", "/v1/videos/\(id)/content")] {
            expectError(try await gw.request(method, path, key: TestGateway.bob), 404, param: "video_id")
        }
        expectError(try await gw.request("POST", "/v1/videos/\(id)/remix", body: #"{"prompt":"x"}"#, key: TestGateway.bob, headers: [Self.json]),
                    404, param: "video_id")
        #expect(try await gw.request("GET", "/v1/videos", key: TestGateway.bob).body["data"] == [])
        // A task made through the Runware API has no video here, even named in this API's form.
        let (runware, _) = try await gw.submit()
        let asVideo = "video_" + runware.replacingOccurrences(of: "-", with: "")
        expectError(try await gw.request("GET", "/v1/videos/\(asVideo)"), 404, param: "video_id")
        #expect(try await gw.request("GET", "/v1/videos").body["data"]?.array?.count == 1)
    }

    @Test func deletingAVideoStillBeingMadeCancelsItAndRemixNeedsACompletedOne() async throws {
        let gw = try await TestGateway.start { $0.providers.simulator.latencySeconds = 30 }
        let made = try await create(gw, #"{"model":"reelgate-simulator","prompt":"slow"}"#)
        let id = try #require(made.body["id"]?.string)
        let remix = try await gw.request("POST", "/v1/videos/\(id)/remix", body: #"{"prompt":"faster"}"#, headers: [Self.json])
        expectError(remix, 400, param: "video_id")
        let deleted = try await gw.request("DELETE", "/v1/videos/\(id)")
        #expect(deleted.status == 200 && deleted.body == ["id": .string(id), "object": "video.deleted", "deleted": true])
        expectError(try await gw.request("GET", "/v1/videos/\(id)"), 404, param: "video_id")
        let list = try await gw.request("GET", "/v1/tasks", key: TestGateway.opsKey)
        let task = try #require(list.body["tasks"]?.array?.first)
        #expect(task["state"] == "cancelled" && task["deletedAt"]?.number != nil)
    }

    @Test func listPagesThroughTheKeysVideosBothWays() async throws {
        let gw = try await TestGateway.start()
        var ids: [String] = []
        for n in 0..<5 { ids.append(try #require(try await create(gw, #"{"model":"reelgate-simulator","prompt":"clip \#(n)"}"#).body["id"]?.string)) }
        var seen: [String] = []
        var after: String?
        repeat {
            let page = try await gw.request("GET", "/v1/videos?limit=2" + (after.map { "&after=\($0)" } ?? ""))
            let data = page.body["data"]?.array ?? []
            seen += data.compactMap { $0["id"]?.string }
            #expect(page.body["object"] == "list" && page.body["first_id"] == data.first?["id"] && page.body["last_id"] == data.last?["id"])
            after = page.body["has_more"] == true ? page.body["last_id"]?.string : nil
        } while after != nil
        #expect(seen == ids.reversed())
        let ascending = try await gw.request("GET", "/v1/videos?limit=100&order=asc")
        #expect(ascending.body["data"]?.array?.compactMap { $0["id"]?.string } == ids && ascending.body["has_more"] == false)
        // A page's last video, deleted before the next page is asked for, still marks the place.
        let firstPage = try await gw.request("GET", "/v1/videos?limit=2")
        let last = try #require(firstPage.body["last_id"]?.string)
        #expect(try await gw.request("DELETE", "/v1/videos/\(last)").status == 200)
        let next = try await gw.request("GET", "/v1/videos?limit=2&after=\(last)")
        #expect(next.status == 200 && next.body["data"]?.array?.compactMap { $0["id"]?.string } == Array(ids.reversed()[2...3]))
    }

    @Test func remixOnGeminiContinuesTheInteractionAndSoraNamesRouteThere() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let gw = try await TestGateway.startWithGemini(fake)
        // The SDK's default model name routes to Gemini Omni Flash by default.
        let made = try await create(gw, #"{"prompt":"a paper boat","seconds":"6","size":"1280x720"}"#)
        let id = try #require(made.body["id"]?.string)
        #expect(made.body["model"] == "sora-2")
        #expect(try await poll(gw, id)["status"] == "completed")
        let remix = try await gw.request("POST", "/v1/videos/\(id)/remix", body: #"{"prompt":"make it rain"}"#, headers: [Self.json])
        let remixID = try #require(remix.body["id"]?.string)
        #expect(remix.body["remixed_from_video_id"]?.string == id && remix.body["seconds"] == "6" && remix.body["size"] == "1280x720")
        #expect(try await poll(gw, remixID)["status"] == "completed")
        let bodies = try fake.creates.map { try JSONParser.parse($0.body) }
        #expect(bodies.map { $0["previous_interaction_id"]?.string } == [nil, "v1_fake1"])
        #expect(bodies.last?["generation_config"]?["video_config"]?["task"] == "edit")
        #expect(bodies.first?["response_format"]?["duration"] == "6s" && bodies.first?["response_format"]?["aspect_ratio"] == "16:9")
        // Its lineage, asked for by either video's id.
        let lineage = try await gw.request("GET", "/v1/videos/\(remixID)/lineage")
        #expect(lineage.body["nodes"]?.array?.count == 2)
    }

    @Test func openAIModelsMustNameARoutedModel() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var config = Configuration()
        config.listen = "127.0.0.1:0"
        config.dataDir = dir.path
        config.openaiModels = ["sora-2": "acme:nothing@1"]
        let configuration = config
        let outcome = try await BlockingIO.run { () -> String in
            do {
                _ = try Application(configuration: configuration, logger: Logger(minimum: .error))
                return "started"
            } catch let error as ConfigurationError {
                return "\(error)"
            }
        }
        #expect(outcome.contains("openaiModels.sora-2 names acme:nothing@1"), "\(outcome)")
    }
}

extension TestGateway {
    /// GET with alice's key and extra headers, raw (for media bytes).
    func fetchAuthorized(_ path: String, headers: [String] = []) async throws -> RawResponse {
        let client = try RawHTTPClient(port: port)
        let extra = headers.map { $0 + "\r\n" }.joined()
        try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer \(TestGateway.alice)\r\n\(extra)\r\n")
        return try await client.readResponse()
    }
}
