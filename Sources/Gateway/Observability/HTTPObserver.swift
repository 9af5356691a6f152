import HTTPServer

/// What the router reports about every request: counted by method, route pattern and status,
/// timed in a histogram (as every Prometheus-instrumented server does), and a handler's failure
/// logged with its detail, which the client never sees.
struct HTTPObserver: RequestObserver {
    let metrics: Metrics
    let logger: Logger

    func requestFinished(method: String, route: String?, status: Int, seconds: Double) {
        // Unknown paths share one label: a client cannot grow the series without bound.
        let route = route ?? "unmatched"
        let method = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].contains(method) ? method : "other"
        metrics.increment("reelgate_http_requests_total", [("method", method), ("route", route), ("status", String(status))])
        metrics.observe("reelgate_http_request_seconds", [("method", method), ("route", route)], seconds)
    }

    func handlerFailed(method: String, route: String, error: any Error) {
        logger.error("request failed", ["method": method, "route": route, "error": "\(error)"])
    }
}
