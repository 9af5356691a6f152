import Foundation
import Synchronization

/// Counters and histograms in the Prometheus text format (exposition format 0.0.4).
///
/// Series are keyed by name and sorted labels; the set of label values is bounded by design
/// (providers, states, outcomes, never task ids), so memory stays flat.
public final class Metrics: Sendable {
    public typealias Labels = [(String, String)]

    /// A series: its name and labels, as given (escaping waits for a scrape, which is rare;
    /// recording is on every request's path).
    private struct Series: Hashable {
        let name: String
        let labels: [Label]
    }

    private struct Label: Hashable, Comparable {
        let name: String
        let value: String
        static func < (a: Label, b: Label) -> Bool { a.name < b.name }
    }

    private struct Histogram {
        /// Observations per bucket (not cumulative); the last counts those above every bound.
        var buckets = [Int](repeating: 0, count: Metrics.bounds.count + 1)
        var sum = 0.0
        var count = 0
    }

    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]

    /// The series of one kind by index: a sample recorded through an id is an array write, with
    /// no label list built or hashed (the per-request metrics are on every request's path).
    private struct Table<Value> {
        var index: [Series: Int] = [:]
        var entries: [(series: Series, value: Value)] = []

        /// The slot of `series`, made with `initial` if new.
        mutating func slot(_ series: Series, initial: @autoclosure () -> Value) -> Int {
            if let slot = index[series] { return slot }
            entries.append((series, initial()))
            index[series] = entries.count - 1
            return entries.count - 1
        }
    }

    private struct Storage {
        var counters = Table<Double>()
        var histograms = Table<Histogram>()
    }

    /// A counter looked up once (``counter(_:_:)``) and recorded into by index.
    public struct CounterID: Sendable, Hashable { fileprivate let slot: Int }
    /// A histogram looked up once (``histogram(_:_:)``) and recorded into by index.
    public struct HistogramID: Sendable, Hashable { fileprivate let slot: Int }

    private let storage = Mutex(Storage())
    private let help: [String: String]

    public init(help: [String: String] = Metrics.defaultHelp) { self.help = help }

    public func increment(_ name: String, _ labels: Labels = [], by value: Double = 1) {
        let series = Self.series(name, labels)
        storage.withLock { storage in
            let slot = storage.counters.slot(series, initial: 0)
            storage.counters.entries[slot].value += value
        }
    }

    public func observe(_ name: String, _ labels: Labels = [], _ value: Double) {
        let series = Self.series(name, labels)
        storage.withLock { storage in
            let slot = storage.histograms.slot(series, initial: Histogram())
            Self.record(value, in: &storage.histograms.entries[slot].value)
        }
    }

    /// The counter `name` with `labels`, created at zero if new.
    public func counter(_ name: String, _ labels: Labels) -> CounterID {
        let series = Self.series(name, labels)
        return CounterID(slot: storage.withLock { $0.counters.slot(series, initial: 0) })
    }

    /// The histogram `name` with `labels`, created empty if new.
    public func histogram(_ name: String, _ labels: Labels) -> HistogramID {
        let series = Self.series(name, labels)
        return HistogramID(slot: storage.withLock { $0.histograms.slot(series, initial: Histogram()) })
    }

    /// Adds `value` to a counter and, when given, one observation to a histogram, under one lock.
    public func record(counter: CounterID, by value: Double = 1, histogram: HistogramID? = nil, observing observation: Double = 0) {
        storage.withLock { storage in
            storage.counters.entries[counter.slot].value += value
            if let histogram { Self.record(observation, in: &storage.histograms.entries[histogram.slot].value) }
        }
    }

    private static func record(_ value: Double, in histogram: inout Histogram) {
        histogram.buckets[bounds.firstIndex { value <= $0 } ?? bounds.count] += 1
        histogram.sum += value
        histogram.count += 1
    }

    private static func series(_ name: String, _ labels: Labels) -> Series {
        var list = labels.map { Label(name: $0.0, value: $0.1) }
        if !zip(list, list.dropFirst()).allSatisfy({ $0.0 <= $0.1 }) { list.sort() }
        return Series(name: name, labels: list)
    }

    /// The whole exposition, with `gauges` sampled by the caller at scrape time.
    public func exposition(gauges: [(name: String, labels: Labels, value: Double)]) -> String {
        var out = ""
        let grouped = Dictionary(grouping: gauges, by: \.name)
        for name in grouped.keys.sorted() {
            header(&out, name, "gauge")
            for g in grouped[name]! { out += "\(name)\(Self.render(g.labels)) \(Self.number(g.value))\n" }
        }
        let (counterList, histogramList) = storage.withLock { ($0.counters.entries, $0.histograms.entries) }
        let counters = Dictionary(grouping: counterList, by: \.series.name)
        for name in counters.keys.sorted() {
            header(&out, name, "counter")
            for (labels, value) in counters[name]!.map({ (Self.render($0.series.labels), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
                out += "\(name)\(labels) \(Self.number(value))\n"
            }
        }
        let histograms = Dictionary(grouping: histogramList, by: \.series.name)
        for name in histograms.keys.sorted() {
            header(&out, name, "histogram")
            for (labels, h) in histograms[name]!.map({ (Self.render($0.series.labels), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
                let inner = labels.isEmpty ? "" : String(labels.dropFirst().dropLast()) + ","
                var cumulative = 0
                for (index, bound) in Self.bounds.enumerated() {
                    cumulative += h.buckets[index]
                    out += "\(name)_bucket{\(inner)le=\"\(Self.number(bound))\"} \(cumulative)\n"
                }
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
        render(labels.map { Label(name: $0.0, value: $0.1) })
    }

    private static func render(_ labels: [Label]) -> String {
        guard !labels.isEmpty else { return "" }
        let parts = labels.sorted().map { label in
            "\(label.name)=\"\(label.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n"))\""
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
