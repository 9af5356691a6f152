/// Where a task is in its life (SPEC §3).
///
/// Which state follows which, and on what, is ``TaskLifecycle``'s to say. Every transition is
/// written before it is acted on, so a restart resumes from the last written state.
public enum TaskState: String, Sendable, CaseIterable, Codable {
    case queued, dispatching, running, fetching, delivering, succeeded, failed, cancelled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }

    /// Whether every result is final (stored or failed): from `delivering` on, what `getResponse`
    /// answers no longer changes.
    public var resultsAreFinal: Bool { self == .delivering || isTerminal }
}

/// A result's own state: each of a task's `numberResults` videos finishes (or fails) on its own.
public enum ResultState: String, Sendable, Codable {
    case pending, ready, failed
}

/// The price table used for `includeCost` when the provider reports none (SPEC §8).
public enum PriceTable {
    /// USD per second of output video.
    public static let perSecond: [String: Double] = [
        "google:gemini@omni-flash": 0.10,
        "reelgate:simulator@1": 0.10,
    ]

    public static func cost(model: String, seconds: Int) -> Double {
        (perSecond[model] ?? 0.10) * Double(seconds)
    }
}
