import Foundation
import Synchronization

/// Counters and histograms in the Prometheus text format (exposition format 0.0.4).
///
/// Series are keyed by name and sorted labels; the set of label values is bounded by design
/// (providers, states, outcomes, never task ids), so memory stays flat.
public final class Metrics: Sendable {
    public typealias Labels = [(String, String)]

    private struct Histogram {
        var buckets: [Double: Int] = [:]
        var sum = 0.0
        var count = 0
    }

    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]
    private let counters = Mutex<[String: [String: Double]]>([:])
    private let histograms = Mutex<[String: [String: Histogram]]>([:])
    private let help: [String: String]

    public init(help: [String: String] = Metrics.defaultHelp) { self.help = help }

    public func increment(_ name: String, _ labels: Labels = [], by value: Double = 1) {
        let key = Self.render(labels)
        counters.withLock { $0[name, default: [:]][key, default: 0] += value }
    }

    public func observe(_ name: String, _ labels: Labels = [], _ value: Double) {
        let key = Self.render(labels)
        histograms.withLock { all in
            var h = all[name, default: [:]][key] ?? Histogram()
            for bound in Self.bounds where value <= bound { h.buckets[bound, default: 0] += 1 }
            h.sum += value
            h.count += 1
            all[name, default: [:]][key] = h
        }
    }

    /// The whole exposition, with `gauges` sampled by the caller at scrape time.
    public func exposition(gauges: [(name: String, labels: Labels, value: Double)]) -> String {
        var out = ""
        let grouped = Dictionary(grouping: gauges, by: \.name)
        for name in grouped.keys.sorted() {
            header(&out, name, "gauge")
            for g in grouped[name]! { out += "\(name)\(Self.render(g.labels)) \(Self.number(g.value))\n" }
        }
        for (name, series) in counters.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            header(&out, name, "counter")
            for (labels, value) in series.sorted(by: { $0.key < $1.key }) { out += "\(name)\(labels) \(Self.number(value))\n" }
        }
        for (name, series) in histograms.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            header(&out, name, "histogram")
            for (labels, h) in series.sorted(by: { $0.key < $1.key }) {
                let inner = labels.isEmpty ? "" : String(labels.dropFirst().dropLast()) + ","
                for bound in Self.bounds { out += "\(name)_bucket{\(inner)le=\"\(Self.number(bound))\"} \(h.buckets[bound] ?? 0)\n" }
                out += "\(name)_bucket{\(inner)le=\"+Inf\"} \(h.count)\n"
                out += "\(name)_sum\(labels) \(Self.number(h.sum))\n\(name)_count\(labels) \(h.count)\n"
            }
        }
        return out
    }

    private func header(_ out: inout String, _ name: String, _ type: String) {
        if let text = help[name] { out += "# HELP \(name) \(text)\n" }
        out += "# TYPE \(name) \(type)\n"
    }

    static func render(_ labels: Labels) -> String {
        guard !labels.isEmpty else { return "" }
        let parts = labels.sorted { $0.0 < $1.0 }.map { key, value in
            "\(key)=\"\(value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n"))\""
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    public static let defaultHelp: [String: String] = [
        "reelgate_tasks": "Tasks by state and model.",
        "reelgate_queue_depth": "Queued tasks that are due now.",
        "reelgate_provider_jobs_in_flight": "Jobs running upstream, per provider.",
        "reelgate_upstream_calls_total": "Upstream calls by provider, operation and outcome.",
        "reelgate_upstream_call_seconds": "Upstream call latency by provider and operation.",
        "reelgate_task_seconds": "Submit to stored result, by model and outcome.",
        "reelgate_deliveries_total": "Webhook and upload attempts by kind and outcome.",
        "reelgate_provider_budget_waits_total": "Times a call waited for the provider's request budget.",
        "reelgate_provider_budget_wait_seconds_total": "Seconds spent waiting for provider request budgets.",
        "reelgate_database_bytes": "Size of the SQLite database and its WAL.",
        "reelgate_media_bytes": "Bytes of stored results.",
        "reelgate_media_budget_bytes": "The media disk budget (media.maxBytes).",
        "reelgate_http_requests_total": "HTTP requests answered, by method, route pattern and status.",
        "reelgate_http_request_seconds": "Time from a request's head being routed to its response, by method and route pattern.",
    ]
}
