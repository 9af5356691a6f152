import Crypto
import Domain
import Foundation
import Gateway
import HTTP1
import HTTPServer
import Synchronization
import TestSupport
import Testing

/// An in-test webhook and presigned-PUT receiver whose answers each test scripts.
final class Receiver: Sendable {
    struct Hit: Sendable {
        let method: String
        let path: String
        let headers: HTTPHeaders
        let body: [UInt8]
        let at: Double
    }

    let server: HTTPServer
    private let hits = Mutex<[Hit]>([])
    /// Status to answer for the n-th hit (0-based); 200 after the list runs out.
    private let script: Mutex<[Int]>

    init(statuses: [Int] = [], host: String = "127.0.0.1") throws {
        self.host = host
        script = Mutex(statuses)
        let router = RouterBuilder()
        let box = Mutex<Receiver?>(nil)
        let handler: Router.Handler = { request in box.withLock { $0 }!.record(request) }
        router.post("/hook", handler)
        router.add("PUT", "/upload", handler)
        router.get("/moved-here") { _ in .text(.ok, "should never be reached") }
        server = HTTPServer(configuration: ServerConfiguration(host: host, port: 0), responder: router.build())
        box.withLock { $0 = self }
        try server.start()
    }

    let host: String
    var base: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(server.port)" }
    var received: [Hit] { hits.withLock { $0 } }

    func setScript(_ statuses: [Int]) { script.withLock { $0 = statuses } }

    private func record(_ request: Request) -> HTTPResponse {
        let index = hits.withLock { h in
            h.append(Hit(method: request.method, path: request.path, headers: request.headers, body: request.body, at: Date().timeIntervalSince1970))
            return h.count - 1
        }
        let status = script.withLock { $0.count > index ? $0[index] : 200 }
        var response = HTTPResponse.text(HTTPStatus(status), "ok")
        if (300..<400).contains(status) { response.headers.add(name: "Location", value: "/moved-here") }
        return response
    }
}

extension TestGateway {
    static func startForDelivery(
        schedule: [Double] = [0.1, 0.2, 0.4], secret: String? = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", resolver: (any HostResolver)? = nil
    ) async throws -> TestGateway {
        try await TestGateway.start(resolver: resolver) { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
            config.webhooks.retrySchedule = schedule
            config.webhooks.timeoutSeconds = 2
            config.webhooks.secret = secret
            config.providers.simulator.latencySeconds = 0.1
        }
    }

    /// Polls the ops view until the task is terminal and no delivery is still open.
    func waitForDeliveries(_ uuid: String, timeout: Double = 20) async throws -> TestGateway.Reply {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Reply?
        while Date() < deadline {
            let view = try await request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
            last = view
            let state = view.body["state"]?.string ?? ""
            let open = view.body["deliveries"]?.array?.contains { ["pending", "sending"].contains($0["state"]?.string ?? "") } ?? true
            if ["succeeded", "failed", "cancelled"].contains(state), !open { return view }
            try await Task.sleep(for: .milliseconds(30))
        }
        let stacks = try? await OffPool.run { PoolWatchdog.dumpAllStacks(label: uuid) }
        throw ProcessError("deliveries of \(uuid) did not settle in \(timeout) s; the last ops view: \(last?.body.serialized() ?? "none")"
            + "; its log: \(logLines(containing: uuid).joined(separator: "\n"))"
            + (stacks.flatMap { $0 }.map { "; every thread's stack: \($0)" } ?? ""))
    }
}

@Suite("delivery", .timeLimit(.minutes(2)), .stopsGateways)
struct DeliveryTests {
    @Test func signedWebhookPerResult() async throws {
        let receiver = try Receiver()
        let gw = try await TestGateway.startForDelivery()
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook"), "numberResults": 2])
        let view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["state"] == "succeeded")
        let hooks = receiver.received.filter { $0.path == "/hook" }
        #expect(hooks.count == 2)
        let signer = WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        var ids = Set<String>()
        for hit in hooks {
            #expect(hit.headers["content-type"] == "application/json")
            #expect(hit.headers["user-agent"]?.hasPrefix("reelgate/") == true)
            let id = try #require(hit.headers["webhook-id"])
            let timestamp = try #require(Int64(hit.headers["webhook-timestamp"] ?? ""))
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 60)
            #expect(hit.headers["webhook-signature"] == signer.signature(id: id, timestamp: timestamp, body: hit.body))
            let item = try #require(try JSONParser.parse(hit.body)["data"]?.array?.first)
            #expect(item["status"] == "success" && item["taskUUID"]?.string == uuid)
            #expect(id == "msg_" + (item["videoUUID"]?.string ?? ""))
            #expect(item["videoURL"]?.string?.contains("/v1/media/") == true)
            ids.insert(id)
        }
        #expect(ids.count == 2)
        await gw.stop()
    }

    @Test func uploadIsStreamedBeforeTheWebhook() async throws {
        let receiver = try Receiver()
        let gw = try await TestGateway.startForDelivery()
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook"), "uploadEndpoint": .string("\(receiver.base)/upload"),
                                             "outputFormat": "WEBM"])
        _ = try await gw.waitForDeliveries(uuid)
        let hits = receiver.received
        #expect(hits.map(\.method) == ["PUT", "POST"])
        let put = hits[0]
        #expect(put.headers["content-type"] == "video/webm")
        #expect(put.headers["content-length"] == String(put.body.count))
        #expect(Array(put.body.prefix(4)) == [0x1A, 0x45, 0xDF, 0xA3])
        // The uploaded bytes are the stored video.
        let url = try #require(try JSONParser.parse(hits[1].body)["data"]?.array?.first?["videoURL"]?.string)
        let path = String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
        let media = try await gw.fetch(path)
        #expect(media.status == 200)
        #expect(Crypto.sha256(put.body) == Crypto.sha256(media.body))
        await gw.stop()
    }

    @Test func retriesFollowTheScheduleUntilDelivered() async throws {
        let receiver = try Receiver(statuses: [500, 503])
        let gw = try await TestGateway.startForDelivery(schedule: [0.2, 0.4, 0.8])
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook")])
        let view = try await gw.waitForDeliveries(uuid)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "delivered")
        let attempts = delivery["attempts"]?.array ?? []
        #expect(attempts.compactMap { $0["statusCode"]?.integer } == [500, 503, 200])
        let times = receiver.received.map(\.at)
        #expect(times.count == 3, "attempts \(attempts), received at \(times)")
        #expect(times.count >= 3 && times[1] - times[0] >= 0.19 && times[2] - times[1] >= 0.39)
        #expect(Set(receiver.received.compactMap { $0.headers["webhook-id"] }).count == 1)  // stable across retries
        await gw.stop()
    }

    @Test func status410StopsAndTheTaskStillSucceeds() async throws {
        let receiver = try Receiver(statuses: [410])
        let gw = try await TestGateway.startForDelivery()
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook")])
        let view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["state"] == "succeeded")
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "failed" && delivery["attempts"]?.array?.count == 1)
        #expect(receiver.received.count == 1)
        await gw.stop()
    }

    @Test func redirectsAreFailuresAndNeverFollowed() async throws {
        let receiver = try Receiver(statuses: [302, 302, 302, 302])
        let gw = try await TestGateway.startForDelivery(schedule: [0.05, 0.05, 0.05])
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook")])
        let view = try await gw.waitForDeliveries(uuid)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "failed")
        #expect(delivery["lastError"]?.string?.contains("gave up after 4 attempts") == true)
        #expect(receiver.received.allSatisfy { $0.path == "/hook" })  // /moved-here never reached
        await gw.stop()
    }

    @Test func receiverDownForGoodIsFailedThenRedeliverable() async throws {
        let receiver = try Receiver(statuses: Array(repeating: 500, count: 4))
        let gw = try await TestGateway.startForDelivery(schedule: [0.05, 0.05, 0.05])
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook")])
        var view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["state"] == "succeeded")
        #expect(view.body["deliveries"]?.array?.first?["state"] == "failed")
        // The receiver is back: ops redeliver, and it arrives with the same webhook-id.
        receiver.setScript([])
        let redeliver = try await gw.request("POST", "/v1/tasks/\(uuid)/redeliver", key: TestGateway.opsKey)
        #expect(redeliver.status == 200 && redeliver.body["deliveries"] == 1)
        view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["deliveries"]?.array?.first?["state"] == "delivered")
        #expect(Set(receiver.received.compactMap { $0.headers["webhook-id"] }).count == 1)
        await gw.stop()
    }

    @Test func unsignedWebhooksStillCarryAStableID() async throws {
        let receiver = try Receiver(statuses: [500])
        let gw = try await TestGateway.startForDelivery(secret: nil)
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook")])
        _ = try await gw.waitForDeliveries(uuid)
        let hits = receiver.received
        #expect(hits.count == 2)
        #expect(hits.allSatisfy { $0.headers["webhook-signature"] == nil && $0.headers["webhook-timestamp"] != nil })
        #expect(Set(hits.compactMap { $0.headers["webhook-id"] }).count == 1)
        await gw.stop()
    }

    @Test func failedTaskSendsAnErrorsWebhook() async throws {
        let receiver = try Receiver()
        let gw = try await TestGateway.startForDelivery()
        let (uuid, _) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook"), "positivePrompt": "[simulate:unsafe] x"])
        let view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["state"] == "failed")
        let body = try JSONParser.parse(try #require(receiver.received.first).body)
        #expect(body["data"] == nil)
        #expect(body["errors"]?.array?.first?["code"] == "contentPolicyViolation")
        #expect(body["errors"]?.array?.first?["taskUUID"]?.string == uuid)
        await gw.stop()
    }

    @Test func expiredPresignedUploadStopsWithoutSending() async throws {
        let receiver = try Receiver()
        let gw = try await TestGateway.startForDelivery()
        let url = "\(receiver.base)/upload?X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-Signature=abc"
        let (uuid, _) = try await gw.submit(["uploadEndpoint": .string(url), "webhookURL": .string("\(receiver.base)/hook")])
        let view = try await gw.waitForDeliveries(uuid)
        let upload = try #require(view.body["deliveries"]?.array?.first { $0["kind"] == "upload" })
        #expect(upload["state"] == "failed" && upload["lastError"]?.string?.contains("expired") == true)
        #expect(receiver.received.map(\.method) == ["POST"])  // the webhook still goes, after the upload settled
        #expect(!(view.body["deliveries"]?.array?.description.contains("X-Amz-Signature") ?? true))  // no secrets shown
        await gw.stop()
    }

    @Test func dnsRebindingAfterSubmitIsRefusedAtDelivery() async throws {
        // hooks.rebind.test resolves to a public address at submit, then to loopback: the
        // delivery re-checks, refuses, and nothing reaches the loopback receiver.
        let receiver = try Receiver()
        let resolver = RebindingResolver(first: "93.184.216.34", then: "127.0.0.1")
        let gw = try await TestGateway.start(resolver: resolver) { config in
            config.network.allowHTTP = true
            config.providers.simulator.latencySeconds = 0.1
        }
        let (uuid, ack) = try await gw.submit(["webhookURL": .string("http://hooks.rebind.test:\(receiver.server.port)/hook")])
        #expect(ack.status == 200)
        let view = try await gw.waitForDeliveries(uuid)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "failed")
        #expect(delivery["lastError"]?.string?.contains("non-public address") == true)
        #expect(receiver.received.isEmpty)
        await gw.stop()
    }
}

/// Answers `first` once, then `then`: the DNS-rebinding attacker's name server.
final class RebindingResolver: HostResolver {
    private let calls = Mutex(0)
    let first: String
    let then: String
    init(first: String, then: String) {
        self.first = first
        self.then = then
    }
    func resolve(_ host: String) async throws -> [IPAddress] {
        let call = calls.withLock { n in
            n += 1
            return n
        }
        return [IPAddress(literal: call == 1 ? first : then)!]
    }
}

@Suite("delivery timing", .timeLimit(.minutes(2)), .stopsGateways)
struct DeliveryTimingTests {
    @Test func scheduleGivesOneAttemptThenEachGap() {
        let schedule = [1.0, 2.0, 4.0]
        #expect((1...4).map { DeliveryWorker.nextDelay(afterAttempts: $0, schedule: schedule) } == [1, 2, 4, nil])
        #expect(DeliveryWorker.nextDelay(afterAttempts: 1, schedule: []) == nil)
    }

    @Test func aSlowReceiverTimesOutAndIsRetried() async throws {
        let calls = Mutex(0)
        let router = RouterBuilder()
        router.add("POST", "/hook") { _ in
            if calls.withLock({ n in n += 1; return n }) == 1 { try? await Task.sleep(for: .seconds(30)) }
            return .text(.ok, "ok")
        }
        let receiver = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        try receiver.start()
        let gw = try await TestGateway.start { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
            config.webhooks.retrySchedule = [0.1]
            config.webhooks.timeoutSeconds = 2  // far from the 30 s the first answer takes, and from a loaded machine's delays
            config.providers.simulator.latencySeconds = 0.1
        }
        let (uuid, _) = try await gw.submit(["webhookURL": .string("http://127.0.0.1:\(receiver.port)/hook")])
        let view = try await gw.waitForDeliveries(uuid)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "delivered", "\(delivery)")
        let attempts = delivery["attempts"]?.array ?? []
        #expect(attempts.count == 2)
        #expect(attempts.first?["error"]?.string?.hasPrefix("timeout") == true)
        #expect((attempts.first?["latencyMs"]?.number ?? 0) < 10_000)
        await gw.stop()
        await receiver.shutdown(gracePeriod: .milliseconds(10))
    }

    /// SPEC §13: a receiver down for 5 s, then back, still gets the webhook (1 s, 2 s, 4 s).
    /// Retries are never early; on a loaded machine they may be late, so the third may already
    /// find the receiver back.
    @Test func receiverDownForFiveSecondsThenBackIsDelivered() async throws {
        let hits = Mutex<[Double]>([])
        let router = RouterBuilder()
        router.post("/hook") { _ in
            let now = Date().timeIntervalSince1970
            let first = hits.withLock { hits in
                hits.append(now)
                return hits[0]
            }
            return now - first < 5 ? .text(.serviceUnavailable, "down") : .text(.ok, "back")
        }
        let receiver = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        try receiver.start()
        let gw = try await TestGateway.start { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
            config.providers.simulator.latencySeconds = 0.1
        }
        let (uuid, _) = try await gw.submit(["webhookURL": .string("http://127.0.0.1:\(receiver.port)/hook")])
        let view = try await gw.waitForDeliveries(uuid, timeout: 30)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "delivered")
        let statuses = delivery["attempts"]?.array?.compactMap { $0["statusCode"]?.integer } ?? []
        #expect(statuses == [503, 503, 503, 200] || statuses == [503, 503, 200], "\(statuses)")
        let times = hits.withLock { $0 }
        #expect(times.count == statuses.count)
        for (index, wait) in [1.0, 2.0, 4.0].prefix(max(times.count - 1, 0)).enumerated() {
            let gap = times[index + 1] - times[index]
            #expect(gap >= wait - 0.05 && gap < wait + 10, "retry \(index + 1) came after \(gap) s, scheduled after \(wait) s")
        }
        await gw.stop()
        await receiver.shutdown(gracePeriod: .milliseconds(10))
    }
}
