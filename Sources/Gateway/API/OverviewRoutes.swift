import Domain
import Foundation
import HTTP1
import HTTPServer
import Store

/// The console's overview (SPEC §17): each provider's health, and headline numbers over a recent
/// window. Ops see every provider and every key's tasks; a client key sees its own numbers and
/// no provider internals.
struct OverviewRoutes: Sendable {
    let store: any TaskStore
    let identity: CallerIdentity
    let gates: [String: ProviderGate]
    let clock: @Sendable () -> Double
    /// At most this many of the newest tasks make the numbers: a busy window is sampled, never
    /// read whole.
    static let sampleLimit = 10_000

    func register(on http: RouterBuilder) {
        http.add("GET", "/v1/providers") { request in
            guard try await identity.principal(request).isOps else {
                throw APIError(.forbidden, "provider health is for ops keys")
            }
            return providers()
        }
        http.add("GET", "/v1/stats") { request in try await stats(request, identity.principal(request)) }
    }

    private func providers() -> HTTPResponse {
        let items: [JSONValue] = gates.keys.sorted().compactMap { name in
            guard let gate = gates[name] else { return nil }
            let health = gate.health
            return [
                "name": .string(name), "inFlight": .int(Int64(health.inFlight)), "maxConcurrent": .int(Int64(gate.maxConcurrent)),
                "breaker": ["state": .string(health.breaker), "consecutiveFailures": .int(Int64(health.consecutiveFailures)),
                            "retryAfterSeconds": .double(health.retryAfterSeconds)],
                "budget": ["requestsPerMinute": .int(Int64(gate.requestsPerMinute)), "requestsAvailable": .double(health.requestsAvailable)],
            ]
        }
        return .jsonBytes(JSONValue.object(["providers": .array(items)]).serializedBytes())
    }

    private func stats(_ request: Request, _ principal: Principal) async throws -> HTTPResponse {
        let text = request.queryParameters["windowSeconds"] ?? "3600"
        guard let window = Double(text), window >= 60, window <= 7 * 86400 else {
            throw APIError(.invalid("windowSeconds"), "windowSeconds is a number of seconds from 60 to 604800", parameter: .one("windowSeconds"))
        }
        let timings = try await store.timings(since: clock() - window, keyName: principal.isOps ? nil : principal.name, limit: Self.sampleLimit)
        let stats = TaskStatistics(timings: timings, windowSeconds: window, sampled: timings.count == Self.sampleLimit)
        let optional = { (value: Double?) in value.map(JSONValue.double) ?? .null }
        let body: JSONValue = [
            "windowSeconds": .double(window), "submitted": .int(Int64(stats.submitted)), "sampled": .bool(stats.sampled),
            "tasksPerMinute": .double(stats.tasksPerMinute), "successRate": optional(stats.successRate),
            "latencySeconds": ["p50": optional(stats.latencyP50), "p95": optional(stats.latencyP95)],
            "byState": .object(Dictionary(uniqueKeysWithValues: TaskState.allCases.map { ($0.rawValue, .int(Int64(stats.byState[$0, default: 0]))) })),
        ]
        return .jsonBytes(body.serializedBytes())
    }
}
