/// Whose stored media (uploaded images, earlier results) a job may read: the key that submitted
/// the task, or anyone's for an ops key. Checked again where a worker loads the file, not only at
/// submit (SPEC §12).
public enum MediaOwner: Sendable, Equatable {
    case key(String)
    case anyone

    public func mayRead(mediaOf keyName: String) -> Bool {
        switch self {
        case .anyone: true
        case .key(let name): name == keyName
        }
    }
}

/// What a provider is asked to make: the validated request plus the results' identities.
public struct ProviderJob: Sendable {
    public var taskUUID: String
    public var request: VideoInferenceRequest
    /// The upstream model name from the route.
    public var upstreamModel: String
    /// One entry per result: its videoUUID and seed.
    public var results: [(videoUUID: String, seed: Int64)]
    /// For an edit on the same provider: the upstream interaction that made the source video.
    public var previousInteractionID: String?
    /// Whose stored media the job's inputs may name.
    public var mediaOwner: MediaOwner

    public init(taskUUID: String, request: VideoInferenceRequest, upstreamModel: String, results: [(videoUUID: String, seed: Int64)],
                mediaOwner: MediaOwner, previousInteractionID: String? = nil) {
        self.mediaOwner = mediaOwner
        self.taskUUID = taskUUID
        self.request = request
        self.upstreamModel = upstreamModel
        self.results = results
        self.previousInteractionID = previousInteractionID
    }
}

/// Where an upstream job stands.
public enum ProviderStatus: Sendable, Equatable {
    case running(progress: Int)
    /// One output reference per result, in result order.
    case succeeded(outputs: [String], cost: Double?)
    case failed(ProviderError)
}

/// An upstream fault, classified once so workers and fallbacks agree on what to do.
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Connect errors, timeouts, 408, 429, 5xx: try again later.
        case retryable
        /// 4xx, safety blocks, invalid input: fail the task with `code`.
        case permanent
    }

    public var kind: Kind
    /// A Runware-style code: `providerError`, `contentPolicyViolation`, `invalidInput`, `timeoutProvider`, ….
    public var code: APIErrorCode
    public var message: String
    /// Seconds the upstream asked us to wait (Retry-After, retry-after-ms, RetryInfo).
    public var retryAfter: Double?

    public init(kind: Kind, code: APIErrorCode, message: String, retryAfter: Double? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func retryable(_ message: String, retryAfter: Double? = nil) -> ProviderError {
        ProviderError(kind: .retryable, code: .providerError, message: message, retryAfter: retryAfter)
    }

    public var description: String { "\(code): \(message)" }
}

/// One upstream video service behind the same four verbs (SPEC §8).
public protocol VideoProvider: Sendable {
    var name: String { get }
    /// Starts the job upstream and returns its handle there. The handle is stored before anything
    /// else happens, so a restart polls this job instead of paying for a second one.
    func submit(_ job: ProviderJob) async throws(ProviderError) -> UpstreamJob
    func poll(_ upstream: UpstreamJob, job: ProviderJob) async throws(ProviderError) -> ProviderStatus
    /// Streams output `reference` to the file at `path`.
    func fetch(output reference: String, job: ProviderJob, to path: String) async throws(ProviderError)
    /// Asks the upstream to stop, where it can.
    func cancel(_ upstream: UpstreamJob) async
    /// How long to wait between polls.
    var pollInterval: Double { get }
    /// How many upstream requests one poll of `upstream` makes (at least): the worker spends
    /// them from the provider's request budget before polling.
    func pollCalls(_ upstream: UpstreamJob) -> Int
}

extension VideoProvider {
    /// One status request per job.
    public func pollCalls(_ upstream: UpstreamJob) -> Int { max(upstream.parts.count, 1) }
}
