import Curl
import Domain
@testable import Gateway
import Testing

/// The worker spends a poll's requests from the provider's budget before polling, and only the
/// adapter knows how its upstream id lists the jobs behind it (comma-separated interaction or
/// task ids; fal's newline-separated URL handles; one job for the simulator and Runware).
@Suite struct PollBudgetTests {
    @Test func eachAdapterCountsTheRequestsOfOnePoll() {
        let curl = CurlClient(threads: 1)
        let guardrail = URLGuard(allowHTTP: true, allowHosts: [], resolver: SystemResolver())
        let fal = FalProvider(key: "k", baseURL: "http://127.0.0.1:1", curl: curl, urlGuard: guardrail, inputs: nil)
        #expect(fal.pollCalls(upstreamID: "http://q/s1 http://q/r1 http://q/c1\nhttp://q/s2 http://q/r2 ") == 2)
        let gemini = GeminiProvider(apiKey: "k", baseURL: "http://127.0.0.1:1", version: "v1beta", curl: curl,
                                    urlGuard: URLGuard(allowHTTP: false, allowHosts: [], resolver: SystemResolver()), workDirectory: "/tmp")
        #expect(gemini.pollCalls(upstreamID: "v1_a,v1_b,v1_c") == 3)
        let simulator = SimulatorProvider(latency: 1, failureRate: 0)
        #expect(simulator.pollCalls(upstreamID: "sim:1,2:1000") == 1)
    }
}
