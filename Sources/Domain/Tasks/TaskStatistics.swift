/// When one task was accepted and last changed, and where it is: what headline numbers are made of.
public struct TaskTiming: Sendable, Equatable {
    public var state: TaskState
    public var createdAt: Double
    public var updatedAt: Double

    public init(state: TaskState, createdAt: Double, updatedAt: Double) {
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The console's headline numbers over a recent window (SPEC §17): tasks per minute, success
/// rate and task latency (accepted → finished) at p50 and p95. Pure, so the arithmetic is tested
/// without a store; the store hands over at most a bounded sample of the newest tasks.
public struct TaskStatistics: Sendable, Equatable {
    public var windowSeconds: Double
    public var submitted: Int
    public var byState: [TaskState: Int]
    /// Tasks accepted per minute over the window.
    public var tasksPerMinute: Double
    /// Succeeded over all that ended (cancelled ones are not failures and do not count); nil
    /// when none ended.
    public var successRate: Double?
    /// Seconds from acceptance to the end, of the tasks that succeeded; nil when none did.
    public var latencyP50: Double?
    public var latencyP95: Double?
    /// Whether the store's sample ran out before the window did (the figures are of the newest).
    public var sampled: Bool

    public init(timings: [TaskTiming], windowSeconds: Double, sampled: Bool) {
        self.windowSeconds = windowSeconds
        self.sampled = sampled
        submitted = timings.count
        var byState: [TaskState: Int] = [:]
        for timing in timings { byState[timing.state, default: 0] += 1 }
        self.byState = byState
        // A sample cut short covers less than the window: the rate is over the span it covers.
        let span = sampled ? max((timings.map(\.createdAt).max() ?? 0) - (timings.map(\.createdAt).min() ?? 0), 1) : windowSeconds
        tasksPerMinute = windowSeconds > 0 ? Double(timings.count) / span * 60 : 0
        let succeeded = byState[.succeeded, default: 0]
        let ended = succeeded + byState[.failed, default: 0]
        successRate = ended == 0 ? nil : Double(succeeded) / Double(ended)
        let latencies = timings.filter { $0.state == .succeeded }.map { max($0.updatedAt - $0.createdAt, 0) }.sorted()
        latencyP50 = Self.percentile(latencies, 0.50)
        latencyP95 = Self.percentile(latencies, 0.95)
    }

    /// The nearest-rank percentile of sorted values.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank - 1, 0), sorted.count - 1)]
    }
}
