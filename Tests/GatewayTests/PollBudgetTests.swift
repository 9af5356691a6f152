import Curl
import Domain
import Foundation
@testable import Gateway
import Testing

/// The worker spends a poll's requests from the provider's budget before polling: one per job
/// in the typed upstream handle. Handles stored before they were typed still read the same.
@Suite struct PollBudgetTests {
    @Test func eachAdapterCountsTheRequestsOfOnePoll() throws {
        let curl = CurlClient(threads: 1)
        let guardrail = URLGuard(allowHTTP: true, allowHosts: [], resolver: SystemResolver())
        let fal = FalProvider(key: "k", baseURL: "http://127.0.0.1:1", curl: curl, urlGuard: guardrail, inputs: nil)
        let legacyFal = try #require(UpstreamJob(stored: "http://q/s1 http://q/r1 http://q/c1\nhttp://q/s2 http://q/r2 "))
        #expect(fal.pollCalls(legacyFal) == 2)
        #expect(legacyFal.parts[0] == UpstreamJob.Part(id: "http://q/s1", statusURL: "http://q/s1", resultURL: "http://q/r1", cancelURL: "http://q/c1"))
        #expect(legacyFal.parts[1].cancelURL == nil)
        let gemini = GeminiProvider(apiKey: "k", baseURL: "http://127.0.0.1:1", version: "v1beta", curl: curl,
                                    urlGuard: URLGuard(allowHTTP: false, allowHosts: [], resolver: SystemResolver()), workDirectory: "/tmp")
        #expect(gemini.pollCalls(try #require(UpstreamJob(stored: "v1_a,v1_b,v1_c"))) == 3)
        let simulator = SimulatorProvider(latency: 1, failureRate: 0)
        #expect(simulator.pollCalls(UpstreamJob(ids: ["sim:t:1000"])) == 1)
    }

    /// The stored form round-trips every field, ids with commas and spaces included.
    @Test func typedHandlesRoundTripThroughTheirStoredForm() throws {
        let handle = UpstreamJob(parts: [
            UpstreamJob.Part(id: "req,1 x", statusURL: "https://q/s", resultURL: "https://q/r", cancelURL: "https://q/c"),
            UpstreamJob.Part(id: "v1_b"),
        ])
        #expect(UpstreamJob(stored: handle.stored) == handle)
        #expect(handle.displayID == "req,1 x,v1_b")
        #expect(UpstreamJob(stored: "") == nil && UpstreamJob(stored: "{\"jobs\":[]}") == nil)
        #expect(UpstreamJob(stored: "3f1c-runware-uuid")?.ids == ["3f1c-runware-uuid"])
        // A legacy id list whose ids have spaces is not mistaken for fal's URL lines.
        #expect(UpstreamJob(stored: "job 1,job 2")?.ids == ["job 1", "job 2"])
        #expect(UpstreamJob(stored: "https://q/s https://q/r ")?.parts.first?.resultURL == "https://q/r")
    }
}
