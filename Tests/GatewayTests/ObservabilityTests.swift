import Domain
import Foundation
import Gateway
import TestSupport
import Testing

@Suite("observability", .timeLimit(.minutes(2)), .stopsGateways)
struct ObservabilityTests {
    @Test func openAPIDescribesEveryRouteTheRouterKnows() async throws {
        let gw = try await TestGateway.start()
        let reply = try await gw.request("GET", "/openapi.json", key: nil)
        #expect(reply.status == 200 && reply.body["openapi"] == "3.1.0")
        let paths = try #require(reply.body["paths"]?.object)
        for route in gw.app.router.registeredRoutes {
            let path = route.pattern.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            let key = "/" + path.joined(separator: "/")
            #expect(paths[key]?[route.method.lowercased()] != nil, "\(route.method) \(key) is not in /openapi.json")
        }
        await gw.stop()
    }

    @Test func metricsExposeTasksUpstreamCallsAndDeliveries() async throws {
        let gw = try await TestGateway.start()
        let (uuid, _) = try await gw.submit()
        _ = try await gw.waitUntilDone(uuid)
        let reply = try await gw.fetch("/metrics")
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = reply.bodyText
        #expect(text.contains(#"reelgate_tasks{model="reelgate:simulator@1",state="succeeded"} 1"#))
        #expect(text.contains("# TYPE reelgate_upstream_calls_total counter"))
        #expect(text.contains(#"reelgate_upstream_calls_total{operation="submit",outcome="ok",provider="simulator"} 1"#))
        #expect(text.contains(#"reelgate_upstream_call_seconds_bucket{operation="poll",provider="simulator",le="+Inf"}"#))
        #expect(text.contains(#"reelgate_task_seconds_count{model="reelgate:simulator@1",outcome="succeeded"} 1"#))
        #expect(text.contains("reelgate_queue_depth 0"))
        #expect(text.contains(#"reelgate_provider_jobs_in_flight{provider="simulator"} 0"#))
        #expect(text.contains("reelgate_media_bytes ") && text.contains("reelgate_database_bytes "))
        // HTTP requests by method, route pattern and status, and their durations.
        #expect(text.contains(#"reelgate_http_requests_total{method="POST",route="/v1",status="200"}"#))
        #expect(text.contains(#"reelgate_http_request_seconds_bucket{method="POST",route="/v1",le="+Inf"}"#))
        _ = try await gw.request("GET", "/v1/tasks/\(uuid)")
        _ = try await gw.request("GET", "/no/such/\(UUID().uuidString)")
        let again = try await gw.fetch("/metrics").bodyText
        #expect(again.contains(#"reelgate_http_requests_total{method="GET",route="/v1/tasks/:id",status="200"} 1"#))
        #expect(again.contains(#"reelgate_http_requests_total{method="GET",route="unmatched",status="404"} 1"#))
        // Every sample line is `name{labels} value` or a comment: parseable by Prometheus.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.split(separator: " ").count == 2 && Double(line.split(separator: " ").last!) != nil, "\(line)")
        }
        await gw.stop()
    }
}
