import HTTPServer
import Synchronization

/// What the router reports about every request: counted by method, route pattern and status,
/// timed in a histogram (as every Prometheus-instrumented server does), and a handler's failure
/// logged with its detail, which the client never sees.
final class HTTPObserver: RequestObserver {
    let metrics: Metrics
    let logger: Logger

    /// The two series of each method, route and status seen so far: found by one small lookup
    /// per request instead of building and hashing their label lists.
    private struct Key: Hashable {
        let method: String
        let route: String?
        let status: Int
    }
    private let series = Mutex<[Key: (requests: Metrics.CounterID, seconds: Metrics.HistogramID)]>([:])
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    init(metrics: Metrics, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    func requestFinished(method: String, route: String?, status: Int, seconds: Double) {
        // Unknown methods share one label, as unknown paths do: a client cannot grow the series
        // without bound.
        let key = Key(method: Self.knownMethods.contains(method) ? method : "other", route: route, status: status)
        let ids = series.withLock { $0[key] } ?? register(key)
        metrics.record(counter: ids.requests, histogram: ids.seconds, observing: seconds)
    }

    private func register(_ key: Key) -> (requests: Metrics.CounterID, seconds: Metrics.HistogramID) {
        let route = key.route ?? "unmatched"
        let ids = (requests: metrics.counter("reelgate_http_requests_total", [("method", key.method), ("route", route), ("status", String(key.status))]),
                   seconds: metrics.histogram("reelgate_http_request_seconds", [("method", key.method), ("route", route)]))
        series.withLock { $0[key] = ids }
        return ids
    }

    func handlerFailed(method: String, route: String, error: any Error) {
        logger.error("request failed", ["method": method, "route": route, "error": "\(error)"])
    }
}
