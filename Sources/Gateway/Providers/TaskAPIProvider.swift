import Curl
import Domain
import Store
import Foundation

/// A generic create-then-query task provider whose paths, auth header and field names come from
/// config; defaults are the `gemini-omni-flash-image-to-video` profile of taskapi.md.
public struct TaskAPIProvider: VideoProvider {
    public let name: String
    let settings: TaskAPISettings.Entry
    let curl: CurlClient
    let urlGuard: URLGuard
    let inputs: InputFetcher?
    public let pollInterval: Double

    init(settings: TaskAPISettings.Entry, curl: CurlClient, urlGuard: URLGuard, inputs: InputFetcher?) {
        name = settings.name
        self.settings = settings
        self.curl = curl
        self.urlGuard = urlGuard
        self.inputs = inputs
        pollInterval = settings.pollIntervalSeconds ?? 5
    }

    private var base: String { settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL }
    private var headers: [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [("Content-Type", "application/json"), ("User-Agent", DeliveryWorker.userAgent)]
        if let key = settings.apiKey { h.append((settings.authHeader ?? "Authorization", (settings.authPrefix ?? "Bearer ") + key)) }
        return h
    }

    func createBody(_ job: ProviderJob) async throws(ProviderError) -> JSONValue {
        let r = job.request
        var prompt = r.positivePrompt
        if let negative = r.negativePrompt { prompt += "\n\nAvoid: \(negative)" }  // "negative wishes go into the prompt"
        var body: [String: JSONValue] = [:]
        Self.set(&body, "model", .string(job.upstreamModel))
        Self.set(&body, settings.promptField ?? "prompt", .string(prompt))
        Self.set(&body, settings.durationField ?? "duration", .int(Int64(r.duration)))
        let aspect = ["16:9", "9:16"].contains(r.effectiveAspectRatio) ? r.effectiveAspectRatio : "auto"
        Self.set(&body, settings.aspectRatioField ?? "aspect_ratio", .string(aspect))
        if let image = r.inputs.frameImage?.image ?? r.inputs.referenceImages.first {
            Self.set(&body, settings.imagesField ?? "image_urls", [.string(try await UpstreamHTTP.imageReference(image, inputs: inputs, owner: job.mediaOwner))])
        }
        return .object(body)
    }

    public func submit(_ job: ProviderJob) async throws(ProviderError) -> UpstreamJob {
        var ids: [String] = []
        for _ in job.results.indices {
            let body = try await createBody(job).serializedBytes()
            let response = try await UpstreamHTTP.call(curl, CurlRequest(
                method: "POST", url: base + (settings.createPath ?? "/v1/videos/generations"), headers: headers, body: .bytes(body),
                totalTimeout: .seconds(60)), provider: name)
            let json = try? JSONParser.parse(response.body)
            try UpstreamHTTP.check(response, body: json, provider: name)
            ids.append(try UpstreamJobList.jobID(json.flatMap({ Self.get($0, settings.idField ?? "id") })?.string, provider: name, noun: "a task id"))
        }
        return UpstreamJob(ids: ids)
    }

    public func poll(_ upstream: UpstreamJob, job: ProviderJob) async throws(ProviderError) -> ProviderStatus {
        var outputs: [String] = []
        var progress = 100
        for id in upstream.ids {
            let path = (settings.queryPath ?? "/v1/tasks/{id}").replacingOccurrences(of: "{id}", with: String(id))
            let response = try await UpstreamHTTP.call(curl, CurlRequest(url: base + path, headers: headers, totalTimeout: .seconds(60)), provider: name)
            let json = try? JSONParser.parse(response.body)
            try UpstreamHTTP.check(response, body: json, provider: name)
            guard let json, let status = Self.get(json, settings.statusField ?? "status")?.string else {
                throw ProviderError.retryable("\(name): unreadable task")
            }
            switch status.lowercased() {
            case "completed", "succeeded", "success":
                guard let url = Self.get(json, settings.resultsField ?? "results")?.array?.first?.string
                    ?? Self.get(json, settings.resultsField ?? "results")?.string
                else { return .failed(ProviderError(kind: .permanent, code: .providerError, message: "\(name): completed without a video URL")) }
                outputs.append(url)
            case "failed", "error", "cancelled", "canceled":
                let message = Self.get(json, settings.errorMessageField ?? "error.message")?.string ?? "the task \(status)"
                let code: APIErrorCode = UpstreamHTTP.isSafety(message) ? .contentPolicyViolation : .providerError
                return .failed(ProviderError(kind: .permanent, code: code, message: "\(name): \(message)"))
            default:
                let p = Self.get(json, settings.progressField ?? "progress")?.integer.map(Int.init) ?? 0
                progress = min(progress, min(max(p, 0), 99))
            }
        }
        return progress < 100 ? .running(progress: progress) : .succeeded(outputs: outputs, cost: nil)
    }

    /// The video URL is valid for a limited time (24 h in the profile): fetched at once.
    public func fetch(output reference: String, job: ProviderJob, to path: String) async throws(ProviderError) {
        try await UpstreamHTTP.downloadResult(reference, to: path, curl: curl, urlGuard: urlGuard, provider: name)
    }

    public func cancel(_ upstream: UpstreamJob) async {}

    /// Dotted-path access (`error.message`).
    static func get(_ value: JSONValue, _ path: String) -> JSONValue? {
        path.split(separator: ".").reduce(Optional(value)) { current, key in current?[String(key)] }
    }

    static func set(_ object: inout [String: JSONValue], _ path: String, _ value: JSONValue) {
        let keys = path.split(separator: ".").map(String.init)
        guard let first = keys.first else { return }
        if keys.count == 1 {
            object[first] = value
            return
        }
        var inner = object[first]?.object ?? [:]
        set(&inner, keys.dropFirst().joined(separator: "."), value)
        object[first] = .object(inner)
    }
}

extension TaskAPIProvider {
    /// One per `providers.taskapi[]` entry, under its own name, for `models` routes.
    static let registration = ProviderRegistration(settings: TaskAPISettings.self) { context in
        try context.configuration.providers.taskapi.map { entry in
            ProviderEntry(TaskAPIProvider(settings: entry, curl: context.curl, urlGuard: context.urlGuard, inputs: try context.inputs(scratch: "inputs")),
                          limits: entry.limits)
        }
    }
}
