import Curl
import Domain
import Store
import Foundation

/// A real Runware REST endpoint as the upstream (runware.md): `POST /v1` with an async
/// `videoInference`, then `getResponse` polls with one item per result.
///
/// The upstream taskUUID is our own: a submit retried after a lost answer is the same task to
/// Runware, and its `conflictTaskUUID` then means "already accepted", not an error.
public struct RunwareProvider: VideoProvider {
    public let name = "runware"
    let apiKey: String
    let baseURL: String
    let curl: CurlClient
    let urlGuard: URLGuard
    let inputs: InputFetcher?
    public let pollInterval: Double
    let requestTimeout: Duration

    init(apiKey: String, baseURL: String, curl: CurlClient, urlGuard: URLGuard, inputs: InputFetcher?, pollInterval: Double = 3, requestTimeout: Double = 60) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.curl = curl
        self.urlGuard = urlGuard
        self.inputs = inputs
        self.pollInterval = pollInterval
        self.requestTimeout = .seconds(requestTimeout)
    }

    private var headers: [(name: String, value: String)] {
        [("Authorization", "Bearer \(apiKey)"), ("Content-Type", "application/json"), ("User-Agent", DeliveryWorker.userAgent)]
    }

    func task(_ job: ProviderJob) async throws(ProviderError) -> JSONValue {
        let r = job.request
        var task: [String: JSONValue] = [
            "taskType": "videoInference", "taskUUID": .string(job.taskUUID), "model": .string(job.upstreamModel),
            "positivePrompt": .string(r.positivePrompt), "duration": .int(Int64(r.duration)), "numberResults": .int(Int64(job.results.count)),
            "outputType": "URL", "outputFormat": .string(r.outputFormat.rawValue), "deliveryMethod": "async", "includeCost": true,
        ]
        if let negative = r.negativePrompt { task["negativePrompt"] = .string(negative) }
        if let width = r.width, let height = r.height { task["width"] = .int(Int64(width)); task["height"] = .int(Int64(height)) }
        if let seed = job.results.first?.seed { task["seed"] = .int(seed) }
        var inputsObject: [String: JSONValue] = [:]
        if let frame = r.inputs.frameImage {
            inputsObject["frameImages"] = [["image": .string(try await UpstreamHTTP.imageReference(frame.image, inputs: inputs, owner: job.mediaOwner)), "frame": "first"]]
        }
        if !r.inputs.referenceImages.isEmpty {
            var images: [JSONValue] = []
            for image in r.inputs.referenceImages { images.append(.string(try await UpstreamHTTP.imageReference(image, inputs: inputs, owner: job.mediaOwner))) }
            inputsObject["referenceImages"] = .array(images)
        }
        if !inputsObject.isEmpty { task["inputs"] = .object(inputsObject) }
        if !r.providerSettings.isEmpty { task["providerSettings"] = .object(r.providerSettings) }
        return .array([.object(task)])
    }

    public func submit(_ job: ProviderJob) async throws(ProviderError) -> UpstreamJob {
        let body = try await task(job).serializedBytes()
        let response = try await post(body)
        let json = try? JSONParser.parse(response.body)
        if let errors = json?["errors"]?.array, let first = errors.first {
            if first["code"]?.string == "conflictTaskUUID" { return UpstreamJob(ids: [job.taskUUID]) }  // our own earlier submit: accepted
            try UpstreamHTTP.check(response, body: json, provider: name)
            throw Self.error(first)
        }
        try UpstreamHTTP.check(response, body: json, provider: name)
        guard json?["data"]?.array?.contains(where: { $0["taskUUID"]?.string == job.taskUUID }) == true else {
            throw ProviderError.retryable("runware: the submit was not acknowledged")
        }
        return UpstreamJob(ids: [job.taskUUID])
    }

    public func poll(_ upstream: UpstreamJob, job: ProviderJob) async throws(ProviderError) -> ProviderStatus {
        let body = JSONValue.array([["taskType": "getResponse", "taskUUID": .string(upstream.ids.first ?? job.taskUUID)]]).serializedBytes()
        let response = try await post(body)
        let json = try? JSONParser.parse(response.body)
        if let first = json?["errors"]?.array?.first {
            let error = Self.error(first)
            if error.kind == .permanent { return .failed(error) }
            throw error
        }
        try UpstreamHTTP.check(response, body: json, provider: name)
        guard let items = json?["data"]?.array else { throw ProviderError.retryable("runware: unreadable getResponse") }
        if let failed = items.first(where: { $0["status"]?.string == "error" }) {
            return .failed(Self.error(failed["error"] ?? failed))
        }
        let done = items.filter { $0["status"]?.string == "success" && $0["videoURL"]?.string != nil }
        guard done.count >= job.results.count else {
            let progress = items.compactMap { $0["progress"]?.integer }.min().map(Int.init) ?? 0
            return .running(progress: min(progress, 99))
        }
        let cost = done.compactMap { $0["cost"]?.number }.reduce(0, +)
        return .succeeded(outputs: done.prefix(job.results.count).compactMap { $0["videoURL"]?.string }, cost: cost > 0 ? cost : nil)
    }

    public func fetch(output reference: String, job: ProviderJob, to path: String) async throws(ProviderError) {
        try await UpstreamHTTP.downloadResult(reference, to: path, curl: curl, urlGuard: urlGuard, provider: name)
    }

    /// Runware has no cancel call; the task runs out upstream.
    public func cancel(_ upstream: UpstreamJob) async {}

    private func post(_ body: [UInt8]) async throws(ProviderError) -> CurlResponse {
        try await UpstreamHTTP.call(curl, CurlRequest(method: "POST", url: baseURL, headers: headers, body: .bytes(body), totalTimeout: requestTimeout),
                                    provider: name)
    }

    /// A Runware error item as a provider error, classified by its code (runware.md §7.2).
    static func error(_ item: JSONValue) -> ProviderError {
        let code = item["code"]?.string ?? "providerError"
        let message = "runware: \(item["message"]?.string ?? code)"
        let lower = code.lowercased()
        if lower.contains("ratelimit") || lower.contains("timeout") || lower.contains("unavailable") || lower.contains("internal") {
            return ProviderError(kind: .retryable, code: .providerError, message: message)
        }
        if ["contentpolicyviolation", "nsfwcontentdetected", "promptblocked"].contains(lower) {
            return ProviderError(kind: .permanent, code: .contentPolicyViolation, message: message)
        }
        if lower.hasPrefix("invalid") || lower.hasPrefix("missing") || lower.hasPrefix("unsupported") {
            return ProviderError(kind: .permanent, code: .invalidInput, message: message)
        }
        return ProviderError(kind: .permanent, code: .providerError, message: message)
    }
}

extension RunwareProvider {
    /// Built when `providers.runware.apiKey` (`RUNWARE_API_KEY`) is set.
    static let registration = ProviderRegistration(settings: RunwareSettings.self) { context in
        let settings = context.configuration.providers.runware
        guard let key = settings.apiKey, !key.isEmpty else { return [] }
        let provider = RunwareProvider(apiKey: key, baseURL: settings.baseURL, curl: context.curl, urlGuard: context.urlGuard,
                                       inputs: try context.inputs(scratch: "inputs"), pollInterval: settings.pollIntervalSeconds)
        return [ProviderEntry(provider, limits: settings.limits, omniFlashModel: "google:gemini@omni-flash")]
    }
}
