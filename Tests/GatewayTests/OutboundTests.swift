import Crypto
import Domain
import Foundation
import Gateway
import Glibc
import Synchronization
import TestSupport
import Testing

/// Names resolving where a test says (the resolver seam of the URL guard).
struct NamedResolver: HostResolver {
    let table: [String: String]
    struct NXDomain: Error {}
    func resolve(_ host: String) async throws -> [IPAddress] {
        guard let address = table[host].flatMap(IPAddress.init(literal:)) else { throw NXDomain() }
        return [address]
    }
}

/// Outbound requests cannot be turned against the operator's network (issue 10, points 9–11).
@Suite("outbound URL pinning, proxies and redirects", .timeLimit(.minutes(2)), .stopsGateways)
struct OutboundTests {
    /// An allowed IPv6-literal target is reached: the pin is written `[addr]:port` for curl.
    @Test func anAllowedIPv6LiteralTargetIsDelivered() async throws {
        let receiver = try Receiver(host: "::1")
        defer { Task { await receiver.server.shutdown(gracePeriod: .zero) } }
        let gw = try await TestGateway.start { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["::1/128"]
            config.providers.simulator.latencySeconds = 0.1
        }
        let (uuid, ack) = try await gw.submit(["webhookURL": .string("\(receiver.base)/hook")])
        #expect(ack.status == 200)
        let view = try await gw.waitForDeliveries(uuid)
        let delivery = try #require(view.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "delivered", "\(delivery)")
        #expect(receiver.received.count == 1)
        await gw.stop()
    }

    /// `http_proxy` and friends in the environment do not send webhooks through a proxy that
    /// would resolve the name itself: the receiver is reached directly, the proxy sees nothing.
    @Test func proxyEnvironmentVariablesAreIgnored() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let proxy = try TunnelProxy()
        defer { proxy.stop() }
        let receiver = try Receiver()
        let config = dir.file("config.json")
        try #"{"providers":{"simulator":{"latencySeconds":0.1}},"network":{"allowHTTP":true,"allowHosts":["127.0.0.1/32"]}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let key = "ops-key-0123456789abcdef"
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        let gateway = try GatewayProcess(arguments: ["serve", "--config", config], environment: [
            "REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": dir.file("data"), "REELGATE_API_KEYS": "ops:\(key):ops",
            "http_proxy": proxyURL, "HTTP_PROXY": proxyURL, "https_proxy": proxyURL, "HTTPS_PROXY": proxyURL, "ALL_PROXY": proxyURL,
            "all_proxy": proxyURL,
        ], workingDirectory: dir.path)
        let port = try await gateway.waitForListening()
        let task = UUID().uuidString.lowercased()
        let body = #"[{"taskType":"videoInference","taskUUID":"\#(task)","model":"reelgate:simulator@1","positivePrompt":"direct","webhookURL":"\#(receiver.base)/hook"}]"#
        let client = try RawHTTPClient(port: port)
        try await client.send("POST /v1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(key)\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(try await client.readResponse().status == 200)
        try await gateway.waitForLog("\"msg\":\"delivered\"")
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit() == 0)
        #expect(receiver.received.count == 1)
        #expect(proxy.requestLines.isEmpty, "\(proxy.requestLines)")
        await receiver.server.shutdown(gracePeriod: .zero)
    }

    /// With `network.egressProxy` set, a webhook goes through it as a tunnel to the address the
    /// guard checked (`CONNECT 127.0.0.1:port`, never the name), and the guard still refuses a
    /// name that resolves somewhere private by delivery time.
    @Test func theEgressProxyTunnelsToTheCheckedAddressAndTheGuardStillApplies() async throws {
        let proxy = try TunnelProxy()
        defer { proxy.stop() }
        let receiver = try Receiver()
        let resolver = NamedResolver(table: ["hooks.test": "127.0.0.1", "internal.test": "10.1.2.3"])
        let gw = try await TestGateway.start(resolver: resolver) { config in
            config.network.allowHTTP = true
            config.network.allowHosts = ["127.0.0.1/32"]
            config.network.egressProxy = "http://127.0.0.1:\(proxy.port)"
            config.webhooks.retrySchedule = []
            config.providers.simulator.latencySeconds = 0.1
        }
        let (uuid, _) = try await gw.submit(["webhookURL": .string("http://hooks.test:\(receiver.server.port)/hook")])
        let view = try await gw.waitForDeliveries(uuid)
        #expect(view.body["deliveries"]?.array?.first?["state"] == "delivered", "\(view.body)")
        #expect(receiver.received.count == 1)
        #expect(proxy.requestLines == ["CONNECT 127.0.0.1:\(receiver.server.port) HTTP/1.1"])
        // A private target is refused before anything reaches the proxy.
        let (_, refused) = try await gw.submit(["webhookURL": .string("http://internal.test:\(receiver.server.port)/hook")])
        #expect(refused.status == 400)
        #expect(refused.errors.first?["code"] == "invalidWebhookURL")
        #expect(proxy.requestLines.count == 1)
        await gw.stop()
        // A name public at submit and private by delivery time is refused at delivery, through
        // the proxy too: nothing is sent to the proxy for it.
        let rebinding = try await TestGateway.start(resolver: RebindingResolver(first: "93.184.216.34", then: "10.1.2.3")) { config in
            config.network.allowHTTP = true
            config.network.egressProxy = "http://127.0.0.1:\(proxy.port)"
            config.providers.simulator.latencySeconds = 0.1
        }
        let (late, _) = try await rebinding.submit(["webhookURL": "http://rebind.test/hook"])
        let view2 = try await rebinding.waitForDeliveries(late)
        let delivery = try #require(view2.body["deliveries"]?.array?.first)
        #expect(delivery["state"] == "failed")
        #expect(delivery["lastError"]?.string?.contains("non-public address") == true)
        #expect(proxy.requestLines.count == 1)
        await rebinding.stop()
        await receiver.server.shutdown(gracePeriod: .zero)
    }

    /// The Files download's redirect is a URL from a response: a hop to an internal address is
    /// refused before any request is made to it.
    @Test func aFilesDownloadRedirectToAnInternalAddressIsRefused() async throws {
        let inside = try FakeGemini(video: fakeVideo)  // records every request it gets
        var settings = FakeGemini.Settings()
        settings.delivery = "uri"
        settings.storageBaseURL = inside.baseURL
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let gw = try await TestGateway.start { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
            config.network.allowHTTP = true  // so the hop is refused for its address, not its scheme
        }
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let done = try await gw.waitUntilDone(uuid)
        let error = try #require(done.data.first?["error"])
        #expect(error["code"] == "providerError")
        #expect(error["message"]?.string?.contains("redirect to 127.0.0.1:\(inside.server.port) was refused") == true, "\(error)")
        #expect(error["message"]?.string?.contains("not a public address") == true, "\(error)")
        #expect(inside.requests.isEmpty)
        await gw.stop()
    }

    /// A hop the guard allows is followed, pinned, and never sees the API key, which goes only to
    /// the configured origin.
    @Test func aFilesDownloadRedirectElsewhereNeverCarriesTheKey() async throws {
        let storage = try FakeGemini(video: fakeVideo)
        var settings = FakeGemini.Settings()
        settings.delivery = "uri"
        settings.storageBaseURL = "http://storage.test:\(storage.server.port)"
        let fake = try FakeGemini(settings: settings, video: fakeVideo)
        let gw = try await TestGateway.start(resolver: NamedResolver(table: ["storage.test": "127.0.0.1"])) { config in
            config.providers.gemini.apiKey = "fake-gemini-key"
            config.providers.gemini.baseURL = fake.baseURL
            config.providers.gemini.pollIntervalSeconds = 0.05
            config.network.allowHTTP = true
            config.network.allowHosts = ["storage.test"]
        }
        let (uuid, _) = try await gw.submit(["model": "google:gemini@omni-flash"])
        let done = try await gw.waitUntilDone(uuid)
        let url = try #require(done.data.first?["videoURL"]?.string, "\(done.body)")
        let media = try await gw.fetch(String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
        #expect(Crypto.sha256(media.body) == Crypto.sha256(fakeVideo))
        let download = try #require(fake.requests.first { $0.path.hasSuffix(":download") })
        #expect(download.headers["x-goog-api-key"] == "fake-gemini-key")
        let fetched = storage.requests.filter { $0.path.hasPrefix("/storage/") }
        #expect(fetched.count == 1)
        #expect(fetched.allSatisfy { $0.headers["x-goog-api-key"] == nil })
        await gw.stop()
    }
}
