import Foundation
import Store
import HTTP1
import HTTPServer

/// `GET /metrics` (SPEC §4): Prometheus text. Like /healthz it needs no key, for scrapers; it
/// carries counts and sizes only, never task ids, prompts or URLs.
enum MetricsRoute {
    static func register(on router: RouterBuilder, metrics: Metrics, store: any TaskStore, gates: [String: ProviderGate], janitor: MediaJanitor,
                         dbPath: String, sockets: RunwareWebSocketEndpoint? = nil) {
        router.add("GET", "/metrics") { _ in
            var gauges: [(name: String, labels: Metrics.Labels, value: Double)] = []
            if let counts = try? await store.gauges() {
                for row in counts.byStateAndModel {
                    gauges.append(("reelgate_tasks", [("state", row.state.rawValue), ("model", row.model)], Double(row.count)))
                }
                gauges.append(("reelgate_queue_depth", [], Double(counts.queueDepth)))
            }
            for (name, gate) in gates.sorted(by: { $0.key < $1.key }) {
                gauges.append(("reelgate_provider_jobs_in_flight", [("provider", name)], Double(gate.slotsInUse)))
            }
            let dbBytes = ["", "-wal"].compactMap { fileSize(atPath: dbPath + $0) }.reduce(0, +)
            gauges.append(("reelgate_database_bytes", [], Double(dbBytes)))
            gauges.append(("reelgate_media_bytes", [], Double(janitor.bytesInUse)))
            gauges.append(("reelgate_media_budget_bytes", [], Double(janitor.maxBytes)))
            if let sockets {
                let counts = sockets.sessions.counts
                gauges.append(("reelgate_websocket_connections", [], Double(sockets.openSockets.load(ordering: .relaxed))))
                gauges.append(("reelgate_websocket_sessions", [("state", "attached")], Double(counts.attached)))
                gauges.append(("reelgate_websocket_sessions", [("state", "detached")], Double(counts.sessions - counts.attached)))
            }
            return HTTPResponse(
                status: .ok, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                bytes: Array(metrics.exposition(gauges: gauges).utf8))
        }
    }
}
