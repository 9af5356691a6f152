import Curl
import Domain
import Foundation
@testable import Gateway
import S3
import TestSupport
import Testing

/// Results in an S3-compatible bucket (moto's server, which `make test` starts): stored only
/// once the object is complete, served through reelgate's own links (ranges included) or as
/// presigned S3 URLs, deleted by the sweeper; no video is left on local disk.
@Suite("S3 media store", .timeLimit(.minutes(2)), .stopsGateways,
       .enabled(if: ProcessInfo.processInfo.environment["REELGATE_TEST_S3_ENDPOINT"] != nil, "needs REELGATE_TEST_S3_ENDPOINT (make test starts moto)"))
struct ObjectStoreMediaTests {
    static let endpoint = ProcessInfo.processInfo.environment["REELGATE_TEST_S3_ENDPOINT"] ?? ""

    /// A fresh bucket and the store settings for it.
    static func bucket(_ curl: CurlClient, presigned: Bool = false) async throws -> (ObjectStoreSettings, S3Client) {
        var settings = ObjectStoreSettings(endpoint: endpoint, bucket: "m-" + UUID().uuidString.lowercased().prefix(12))
        settings.prefix = "rg/"
        settings.accessKeyId = "testing"
        settings.secretAccessKey = "testing"
        settings.presignedURLs = presigned
        let location = try S3Location(endpoint: endpoint, region: settings.region, bucket: settings.bucket)
        let client = S3Client(signer: S3Signer(location: location, accessKeyID: "testing", secretAccessKey: "testing"), curl: curl)
        // moto's server answers a CreateBucket with HTTP 500 now and then while the suite runs in
        // parallel (CI saw it twice); S3 may too, and every S3 client tries a 5xx again.
        for attempt in 1...3 {
            do {
                try await client.createBucket()
                break
            } catch let error as S3Error where error.isRetryable && attempt < 3 {
                continue
            }
        }
        return (settings, client)
    }

    /// The bucket unreachable when an upload delivery needs the video: that attempt is recorded
    /// with its reason and retried on the schedule, and the next one, with the bucket back,
    /// delivers the exact bytes.
    @Test func anUploadWaitsOutAnUnreachableBucket() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        var (bucket, _) = try await Self.bucket(curl)
        let moto = try #require(URL(string: Self.endpoint))
        let relay = try TCPRelay(to: moto.host ?? "127.0.0.1", port: moto.port ?? 80)
        defer { relay.stop() }
        bucket.endpoint = "http://127.0.0.1:\(relay.port)"
        let settings = bucket
        let receiver = try Receiver(statuses: [503])  // the first attempt is turned away by the receiver itself
        defer { Task { await receiver.server.shutdown(gracePeriod: .milliseconds(10)) } }
        let gw = try await TestGateway.start { config in
            config.media.store = .s3(settings)
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
            // A second before the first retry (the link is cut in it), then room to see that attempt
            // and restore the link before the next, even on a loaded machine.
            config.webhooks.retrySchedule = [1, 3, 3, 3]
        }
        let (uuid, _) = try await gw.submit(["uploadEndpoint": .string("\(receiver.base)/upload")])
        func attempts() async throws -> [JSONValue] {
            try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey).body["deliveries"]?.array?.first?["attempts"]?.array ?? []
        }
        while try await attempts().isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        relay.cut()  // within the second before the retry
        while try await attempts().count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        let second = try #require(try await attempts().last)
        #expect(second["error"]?.string?.contains("media store is unavailable") == true, "\(second)")
        relay.restore()
        let view = try await gw.waitForDeliveries(uuid, timeout: 20)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "delivered", "\(delivery)")
        let put = try #require(receiver.received.last)
        let video = try #require(view.body["results"]?.array?.first?["videoUUID"]?.string)
        let scratch = TempDirectory()
        defer { scratch.remove() }
        let s3 = S3Client(signer: S3Signer(location: try S3Location(endpoint: Self.endpoint, region: settings.region, bucket: settings.bucket),
                                           accessKeyID: "testing", secretAccessKey: "testing"), curl: curl)
        _ = try await s3.getObject(key: "rg/\(video).mp4", to: scratch.file("o"), maxBytes: 1 << 30)
        #expect(put.body == Array(try Data(contentsOf: URL(fileURLWithPath: scratch.file("o")))))
        await gw.stop()
    }

    /// Two instances on one PostgreSQL database and one bucket, each with only its own scratch
    /// directory: either serves the other's results, whole and by range, byte for byte the object.
    @Test(.enabled(if: PostgresTestDatabase.serverURL != nil, "needs REELGATE_TEST_DATABASE_URL"))
    func twoInstancesOnPostgreSQLServeEachOthersResults() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let url = database.url.conninfo
        let a = try await TestGateway.start { $0.database.url = url; $0.media.store = .s3(settings) }
        let b = try await TestGateway.start { $0.database.url = url; $0.media.store = .s3(settings) }
        let (uuid, _) = try await a.submit(["numberResults": 2])
        let done = try await b.waitUntilDone(uuid)
        #expect(done.data.count == 2 && done.data.allSatisfy { $0["status"] == "success" }, "\(done.body)")
        let scratch = TempDirectory()
        defer { scratch.remove() }
        for item in done.data {
            let video = try #require(item["videoUUID"]?.string)
            let path = String(try #require(item["videoURL"]?.string).drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
            _ = try await s3.getObject(key: "rg/\(video).mp4", to: scratch.file(video), maxBytes: 1 << 30)
            let object = Array(try Data(contentsOf: URL(fileURLWithPath: scratch.file(video))))
            for gateway in [a, b] {
                let whole = try await gateway.fetch(path)
                #expect(whole.status == 200 && whole.body == object)
            }
            let client = try RawHTTPClient(port: b.port)
            try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\nRange: bytes=5-14\r\nConnection: close\r\n\r\n")
            let ranged = try await client.readResponse()
            #expect(ranged.status == 206 && ranged.body == Array(object[5...14]))
        }
        await a.stop()
        await b.stop()
    }

    /// A long video (here: 3 MiB under a finished task's key, larger than any in-memory cap)
    /// through reelgate's link, whole and by range, byte for byte.
    @Test func aLargeObjectIsServedWholeAndByRange() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let gw = try await TestGateway.start { $0.media.store = .s3(settings) }
        let (uuid, _) = try await gw.submit()
        let item = try #require(try await gw.waitUntilDone(uuid).data.first)
        let video = try #require(item["videoUUID"]?.string)
        let scratch = TempDirectory()
        defer { scratch.remove() }
        let large = TestBytes.pattern(3 << 20)
        try Data(large).write(to: URL(fileURLWithPath: scratch.file("large")))
        try await s3.putObject(key: "rg/\(video).mp4", file: scratch.file("large"), contentType: "video/mp4")
        let path = String(try #require(item["videoURL"]?.string).drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
        let whole = try await gw.fetch(path)
        #expect(whole.status == 200 && whole.body.count == large.count && whole.body == large)
        let client = try RawHTTPClient(port: gw.port)
        try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\nRange: bytes=2000000-2999999\r\nConnection: close\r\n\r\n")
        let ranged = try await client.readResponse()
        #expect(ranged.status == 206 && ranged.body == Array(large[2_000_000...2_999_999]))
        // A HEAD gets the GET's headers (nothing is fetched from the bucket for it), whole or ranged.
        for (range, status, length) in [("", 200, large.count), ("Range: bytes=2000000-2999999\r\n", 206, 1_000_000)] {
            let head = try RawHTTPClient(port: gw.port)
            try await head.send("HEAD \(path) HTTP/1.1\r\nHost: t\r\n\(range)Connection: close\r\n\r\n")
            let answer = try await head.readResponse(headRequest: true)
            #expect(answer.status == status && answer.headers["content-length"] == "\(length)" && answer.body.isEmpty)
            #expect(status == 200 || answer.headers["content-range"] == "bytes 2000000-2999999/\(large.count)")
        }
        await gw.stop()
    }

    @Test func resultsLiveInTheBucketAndAreServedFromIt() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let gw = try await TestGateway.start { $0.media.store = .s3(settings) }
        let (uuid, _) = try await gw.submit(["numberResults": 2])
        let done = try await gw.waitUntilDone(uuid)
        #expect(done.data.allSatisfy { $0["status"] == "success" }, "\(done.body)")
        let videoUUID = try #require(done.data.first?["videoUUID"]?.string)
        let size = try #require(try await s3.headObject(key: "rg/\(videoUUID).mp4"), "the object is in the bucket")
        #expect(size > 0)
        // The simulator's own copy of its clip (what its "upstream" serves) is not a result.
        let local = try FileManager.default.contentsOfDirectory(atPath: gw.dir.file("media"))
            .filter { ($0.hasSuffix(".mp4") || $0.hasPrefix(".")) && !$0.hasPrefix(".simulator-") }
        #expect(local.isEmpty, "no video (or scratch) left on local disk: \(local)")

        let link = try #require(done.data.first?["videoURL"]?.string)
        #expect(link.contains("/v1/media/"), "reelgate's own link by default")
        let path = String(link.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
        let whole = try await gw.fetch(path)
        #expect(whole.status == 200 && Int64(whole.body.count) == size)
        let scratch = TempDirectory()
        defer { scratch.remove() }
        _ = try await s3.getObject(key: "rg/\(videoUUID).mp4", to: scratch.file("o"), maxBytes: 1 << 30)
        #expect(whole.body == Array(try Data(contentsOf: URL(fileURLWithPath: scratch.file("o")))))
        let client = try RawHTTPClient(port: gw.port)
        try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\nRange: bytes=10-19\r\nConnection: close\r\n\r\n")
        let ranged = try await client.readResponse()
        #expect(ranged.status == 206 && ranged.body == Array(whole.body[10...19]))
        #expect(ranged.headers["content-range"] == "bytes 10-19/\(size)")
        // Staged copies are removed once sent (the server lets go of the body just after the
        // client has read it: observed, with a deadline).
        func staged() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: gw.dir.file("media")).filter { $0.hasPrefix(".stage") } }
        let deadline = Date().addingTimeInterval(5)
        while try !staged().isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try staged().isEmpty)

        // The sweeper deletes expired objects; the link then answers 404, not 500.
        #expect(try await gw.app.janitor.sweep(now: Date().timeIntervalSince1970 + 400 * 86_400) == 2)
        #expect(try await s3.headObject(key: "rg/\(videoUUID).mp4") == nil)
        #expect(try await gw.fetch(path).status == 404)
    }

    @Test func presignedLinksPointAtTheBucket() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl, presigned: true)
        let gw = try await TestGateway.start { $0.media.store = .s3(settings) }
        let (uuid, _) = try await gw.submit()
        let done = try await gw.waitUntilDone(uuid)
        let link = try #require(done.data.first?["videoURL"]?.string)
        #expect(link.hasPrefix("\(Self.endpoint)/\(settings.bucket)/rg/") && link.contains("X-Amz-Signature="), "\(link)")
        let fetched = try await curl.perform(CurlRequest(url: link, sink: .memory(maxBytes: 1 << 26)))
        let videoUUID = try #require(done.data.first?["videoUUID"]?.string)
        let size = try await s3.headObject(key: "rg/\(videoUUID).mp4")
        #expect(fetched.status == 200 && Int64(fetched.body.count) == size)
    }

    /// A presigned upload to the caller's `uploadEndpoint` sends the object's bytes (staged from
    /// the bucket into the spool, removed after).
    @Test func deliveriesReadFromTheBucket() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let receiver = try Receiver()
        let gw = try await TestGateway.start { config in
            config.media.store = .s3(settings)
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
            config.webhooks.retrySchedule = [0.1, 0.2]
            config.providers.simulator.latencySeconds = 0.1
        }
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook"), "uploadEndpoint": .string("\(receiver.base)/upload")])
        let done = try await gw.waitForDeliveries(uuid)
        let put = try #require(receiver.received.first { $0.method == "PUT" }, "\(done.body)")
        let videoUUID = try #require(receiver.received.first { $0.method == "POST" }.flatMap {
            try? JSONParser.parse($0.body)["data"]?.array?.first?["videoUUID"]?.string
        })
        let scratch = TempDirectory()
        defer { scratch.remove() }
        _ = try await s3.getObject(key: "rg/\(videoUUID).mp4", to: scratch.file("o"), maxBytes: 1 << 30)
        #expect(put.body == Array(try Data(contentsOf: URL(fileURLWithPath: scratch.file("o")))) && !put.body.isEmpty)
        let spool = (try? FileManager.default.contentsOfDirectory(atPath: gw.dir.file("spool"))) ?? []
        #expect(!spool.contains { $0.hasPrefix(".stage") }, "staged copies removed: \(spool)")
    }

    /// A multipart upload a crashed run left is aborted when a gateway alone on its data starts;
    /// another writer's, in the same bucket, is left alone.
    @Test func aCrashedRunsMultipartUploadIsAbortedAtStart() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let orphan = "rg/\(UUID().uuidString.lowercased()).mp4"
        _ = try await s3.createMultipartUpload(key: orphan, contentType: "video/mp4")
        // Another writer's upload under the same prefix is not ours to abort.
        let foreign = try await s3.createMultipartUpload(key: "rg/someone-else/backup.tar", contentType: "application/x-tar")
        #expect(try await s3.listMultipartUploads(prefix: "rg/").count == 2)
        _ = try await TestGateway.start { $0.media.store = .s3(settings) }
        let deadline = Date().addingTimeInterval(10)
        while try await s3.listMultipartUploads(prefix: "rg/").count > 1, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try await s3.listMultipartUploads(prefix: "rg/").map(\.uploadID) == [foreign])
    }

    /// Two gateways on one PostgreSQL with the bucket as their media store and local directories
    /// of their own: no shared disk needed; a result fetched by one is served by the other, and an
    /// image uploaded to one is in the bucket for either.
    @Test(.enabled(if: PostgresTestDatabase.serverURL != nil, "needs REELGATE_TEST_DATABASE_URL"))
    func twoInstancesServeEachOthersResultsFromTheBucket() async throws {
        let database = try await PostgresTestDatabase.create()
        defer { database.drop() }
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let url = database.url.conninfo
        let a = try await TestGateway.start { $0.database.url = url; $0.media.store = .s3(settings) }
        let b = try await TestGateway.start { $0.database.url = url; $0.media.store = .s3(settings) }
        let (uuid, _) = try await a.submit()
        let done = try await b.waitUntilDone(uuid)
        let link = try #require(done.data.first?["videoURL"]?.string)
        let path = String(link.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
        let fromA = try await a.fetch(path), fromB = try await b.fetch(path)
        #expect(fromA.status == 200 && fromB.status == 200 && fromA.body == fromB.body && !fromA.body.isEmpty)

        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0, count: 64)
        let upload = try await a.post([["taskType": "imageUpload", "taskUUID": .string(UUID().uuidString.lowercased()),
                                        "image": .string(Data(png).base64EncodedString())]])
        let imageUUID = try #require(upload.data.first?["imageUUID"]?.string, "\(upload.body)")
        #expect(try await s3.headObject(key: "rg/images/\(imageUUID)") == Int64(png.count))
    }

    /// `outputType: base64Data` reads the object: the reply carries its bytes, and the staged
    /// copy is gone once the reply is sent.
    @Test func inlineOutputsComeFromTheBucket() async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let (settings, s3) = try await Self.bucket(curl)
        let gw = try await TestGateway.start { $0.media.store = .s3(settings) }
        let (uuid, _) = try await gw.submit(["outputType": "base64Data"])
        let done = try await gw.waitUntilDone(uuid)
        let item = try #require(done.data.first)
        let inline = try #require(item["videoBase64Data"]?.string.flatMap { Data(base64Encoded: $0) }, "\(done.body)")
        let videoUUID = try #require(item["videoUUID"]?.string)
        let scratch = TempDirectory()
        defer { scratch.remove() }
        _ = try await s3.getObject(key: "rg/\(videoUUID).mp4", to: scratch.file("o"), maxBytes: 1 << 30)
        #expect(inline == (try Data(contentsOf: URL(fileURLWithPath: scratch.file("o")))) && !inline.isEmpty)
        func staged() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: gw.dir.file("media")).filter { $0.hasPrefix(".stage") } }
        let deadline = Date().addingTimeInterval(5)
        while try !staged().isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try staged().isEmpty)
    }
}
