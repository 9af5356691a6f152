import Domain
import Foundation
import Gateway
import TestSupport
import Testing

extension TestGateway {
    /// Gemini first, the simulator as fallback, fast retries.
    static func startWithFallback(_ fake: FakeGemini, _ configure: @escaping @Sendable (inout Configuration) -> Void = { _ in }) async throws
        -> TestGateway
    {
        try await TestGateway.start { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
            config.providers.simulator.latencySeconds = 0.05
            config.workers.retryBaseSeconds = 0.05
            config.workers.retryMaxSeconds = 0.2
            config.models = ["google:gemini@omni-flash": [.init(provider: "gemini", model: "gemini-omni-flash-preview"), .init(provider: "simulator", model: "simulator")]]
            configure(&config)
        }
    }
}

@Suite("provider limits, breaker and fallbacks", .timeLimit(.minutes(3)), .stopsGateways)
struct ProviderLimitsTests {
    @Test func retryableSubmitFailureFallsBackAndTheTaskShowsWhoServedIt() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        fake.inject([.status(503, body: #"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#)])
        let gw = try await TestGateway.startWithFallback(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        #expect(try await gw.waitUntilDone(uuid).data.first?["status"] == "success")
        let view = try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        #expect(view.body["provider"] == "simulator")
        #expect(fake.creates.count == 1)
        await gw.stop()
    }

    @Test func permanentFailuresNeverFallBack() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        fake.inject([.status(400, body: #"{"error":{"code":"invalid_request","message":"bad prompt"}}"#)])
        let gw = try await TestGateway.startWithFallback(fake)
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        #expect(try await gw.waitUntilDone(uuid).data.first?["error"]?["code"] == "invalidInput")
        let view = try await gw.request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        #expect(view.body["provider"] == nil)  // the simulator was never asked
        await gw.stop()
    }

    @Test func anOpenBreakerFailsOverWithoutCallingTheUpstream() async throws {
        let fake = try FakeGemini(video: fakeVideo)
        let unavailable = FakeGemini.Fault.status(503, body: #"{"error":{"code":503,"message":"down","status":"UNAVAILABLE"}}"#)
        fake.inject([unavailable, unavailable])
        let gw = try await TestGateway.startWithFallback(fake) { config in
            config.providers.gemini.limits.breakerThreshold = 2
            config.providers.gemini.limits.breakerCooldownSeconds = 60
        }
        for _ in 0..<4 {
            let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
            #expect(try await gw.waitUntilDone(uuid).data.first?["status"] == "success")
        }
        #expect(fake.creates.count == 2)  // after two failures the breaker kept every later task away
        await gw.stop()
    }

    @Test func theConcurrencyCapQueuesTasksInsteadOfOverloadingTheProvider() async throws {
        var settings = FakeGemini.Settings()
        settings.pollsBeforeDone = 3
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let capped = try await TestGateway.start { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
            config.providers.gemini.limits.maxConcurrent = 1
        }
        var ids: [String] = []
        for _ in 0..<4 { ids.append(try await capped.submit(["model": "google:gemini@omni-flash"]).0) }
        for id in ids { #expect(try await capped.waitUntilDone(id).data.first?["status"] == "success") }
        #expect(fake.creates.count == 4)
        #expect(fake.maxInProgress == 1)
        // Waiting for capacity is not a failed attempt.
        let view = try await capped.request("GET", "/v1/tasks/\(ids[3])", key: TestGateway.opsKey)
        #expect(view.body["attempts"]?.integer == 1)
        await capped.stop()
    }

    /// SPEC §13: 30% 5xx, 10% 429 with Retry-After, 5% hang, 5% garbage. Every task ends in a
    /// terminal state and the request budget is never exceeded.
    @Test func chaosRunEndsEveryTaskAndKeepsTheBudget() async throws {
        var settings = FakeGemini.Settings()
        settings.chaos = (0.30, 0.10, 0.05, 0.05)
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let rpm = 1200  // 20 requests a second
        let gw = try await TestGateway.start { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
            config.providers.gemini.requestTimeoutSeconds = 0.5
            config.providers.gemini.limits.requestsPerMinute = rpm
            config.providers.gemini.limits.breakerThreshold = 1000  // chaos, not an outage: keep calling
            config.workers.retryBaseSeconds = 0.05
            config.workers.retryMaxSeconds = 0.5
            config.workers.maxAttempts = 30
            config.workers.count = 16
        }
        var ids: [String] = []
        for _ in 0..<20 { ids.append(try await gw.submit(["model": "google:gemini@omni-flash"]).0) }
        var states: [String] = []
        for id in ids {
            let reply = try await gw.waitUntilDone(id, timeout: 120)
            states.append(reply.data.first?["status"]?.string ?? "?")
        }
        #expect(states.allSatisfy { $0 == "success" || $0 == "error" })
        #expect(states.filter { $0 == "success" }.count >= 15, "\(states)")
        // The budget: tokens are spent before each request, so within W seconds at most
        // RPM/60 × (W + 1) requests leave the gateway. They are timed here on arrival at the fake,
        // which can bunch them by scheduling delay: allow 250 ms of arrival jitter, no more.
        let times = fake.requests.filter { !$0.path.hasPrefix("/storage/") }.map(\.at).sorted()
        let perSecond = Double(rpm) / 60
        for window in [1.0, 5.0] {
            var start = 0
            for end in times.indices {
                while times[end] - times[start] > window { start += 1 }
                #expect(Double(end - start + 1) <= perSecond * (window + 1 + 0.25), "\(end - start + 1) requests within \(window) s")
            }
        }
        await gw.stop()
    }
}
