import Curl
import Domain
import Store
import Foundation

/// fal's queue API (upstreams.md §6): submit to `{base}/{app}`, then follow the
/// `status_url`/`response_url`/`cancel_url` the submit returns (fal says not to build them).
///
/// The upstream handle keeps those URLs, so a restart keeps polling the same request; they must
/// be on the queue's own origin, because our key goes with every call to them.
public struct FalProvider: VideoProvider {
    public let name = "fal"
    let key: String
    let baseURL: String
    let curl: CurlClient
    let urlGuard: URLGuard
    let inputs: InputFetcher?
    public let pollInterval: Double
    let requestTimeout: Duration

    init(key: String, baseURL: String, curl: CurlClient, urlGuard: URLGuard, inputs: InputFetcher?, pollInterval: Double = 3, requestTimeout: Double = 60) {
        self.key = key
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.curl = curl
        self.urlGuard = urlGuard
        self.inputs = inputs
        self.pollInterval = pollInterval
        self.requestTimeout = .seconds(requestTimeout)
    }

    /// `providerSettings.fal` may add input fields, but not replace the ones reelgate fills in
    /// (or `sync_mode`, which would change how the result comes back).
    public static let reservedSettings: (section: String, fields: Set<String>) = (
        "fal", ["prompt", "image_url", "image_urls", "aspect_ratio", "duration", "resolution", "seed", "sync_mode"]
    )

    private var headers: [(name: String, value: String)] {
        [("Authorization", "Key \(key)"), ("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", DeliveryWorker.userAgent)]
    }

    /// The app's input: fal's Omni endpoints take `prompt`, `image_url`, `aspect_ratio`, `duration`.
    func input(_ job: ProviderJob, resultIndex: Int) async throws(ProviderError) -> JSONValue {
        let request = job.request
        var prompt = request.positivePrompt
        if let negative = request.negativePrompt { prompt += "\n\nAvoid: \(negative)" }
        var body: [String: JSONValue] = [
            "prompt": .string(prompt), "aspect_ratio": .string(request.effectiveAspectRatio), "duration": .string("\(request.duration)s"),
        ]
        if let resolution = request.resolution { body["resolution"] = .string(resolution) }
        if job.results.indices.contains(resultIndex) { body["seed"] = .int(job.results[resultIndex].seed & 0x7FFF_FFFF) }
        if let frame = request.inputs.frameImage {
            body["image_url"] = .string(try await UpstreamHTTP.imageReference(frame.image, inputs: inputs, owner: job.mediaOwner))
        } else if !request.inputs.referenceImages.isEmpty {
            var urls: [JSONValue] = []
            for image in request.inputs.referenceImages { urls.append(.string(try await UpstreamHTTP.imageReference(image, inputs: inputs, owner: job.mediaOwner))) }
            body["image_urls"] = .array(urls)
        }
        for (key, value) in request.providerSettings["fal"]?.object ?? [:] where body[key] == nil { body[key] = value }
        return .object(body)
    }

    public func submit(_ job: ProviderJob) async throws(ProviderError) -> UpstreamJob {
        var parts: [UpstreamJob.Part] = []
        for index in job.results.indices {
            let body = try await input(job, resultIndex: index).serializedBytes()
            let response = try await UpstreamHTTP.call(curl, CurlRequest(
                method: "POST", url: "\(baseURL)/\(Self.app(job))", headers: headers, body: .bytes(body), totalTimeout: requestTimeout), provider: name)
            let json = try? JSONParser.parse(response.body)
            try UpstreamHTTP.check(response, body: json, provider: name)
            guard let json, let status = json["status_url"]?.string, let result = json["response_url"]?.string else {
                throw ProviderError.retryable("fal: submit answered without status and response URLs")
            }
            let cancel = json["cancel_url"]?.string
            for url in [status, result] + (cancel.map { [$0] } ?? []) where UpstreamHTTP.origin(url) != UpstreamHTTP.origin(baseURL) {
                throw ProviderError(kind: .permanent, code: .providerError, message: "fal: refusing a request URL off the queue's origin")
            }
            parts.append(UpstreamJob.Part(id: json["request_id"]?.string.flatMap { $0.isEmpty ? nil : $0 } ?? status, statusURL: status, resultURL: result, cancelURL: cancel))
        }
        return UpstreamJob(parts: parts)
    }

    /// The app to submit to. A route model without an endpoint (`google/gemini-omni-flash`)
    /// gets the one the inputs call for: image-to-video with a frame image, else text-to-video.
    static func app(_ job: ProviderJob) -> String {
        let model = job.upstreamModel
        guard model.split(separator: "/").count == 2 else { return model }
        return model + (job.request.inputs.frameImage != nil || !job.request.inputs.referenceImages.isEmpty ? "/image-to-video" : "/text-to-video")
    }

    public func poll(_ upstream: UpstreamJob, job: ProviderJob) async throws(ProviderError) -> ProviderStatus {
        var outputs: [String] = []
        var progress = 100
        for part in upstream.parts {
            guard let statusURL = part.statusURL, let resultURL = part.resultURL else {
                throw ProviderError(kind: .permanent, code: .providerError, message: "fal: the stored job has no status and response URLs")
            }
            let response = try await UpstreamHTTP.call(curl, CurlRequest(url: statusURL, headers: headers, totalTimeout: requestTimeout), provider: name)
            let json = try? JSONParser.parse(response.body)
            try UpstreamHTTP.check(response, body: json, provider: name)
            guard let status = json?["status"]?.string else { throw ProviderError.retryable("fal: unreadable status") }
            switch status {
            case "IN_QUEUE": progress = min(progress, 5)
            case "IN_PROGRESS": progress = min(progress, 50)
            case "COMPLETED":
                // COMPLETED can still be a failure: the result GET is authoritative.
                let result = try await UpstreamHTTP.call(curl, CurlRequest(url: resultURL, headers: headers, totalTimeout: requestTimeout), provider: name)
                let body = try? JSONParser.parse(result.body)
                do {
                    try UpstreamHTTP.check(result, body: body, provider: name)
                } catch {
                    if error.kind == .permanent { return .failed(error) }
                    throw error
                }
                guard let url = body?["video"]?["url"]?.string ?? body?["videos"]?.array?.first?["url"]?.string else {
                    return .failed(ProviderError(kind: .permanent, code: .providerError, message: "fal: the result has no video"))
                }
                outputs.append(url)
            default:
                return .failed(ProviderError(kind: .permanent, code: .providerError, message: "fal: request ended as \(status)"))
            }
        }
        return progress < 100 ? .running(progress: progress) : .succeeded(outputs: outputs, cost: nil)
    }

    public func fetch(output reference: String, job: ProviderJob, to path: String) async throws(ProviderError) {
        try await UpstreamHTTP.downloadResult(reference, to: path, curl: curl, urlGuard: urlGuard, provider: name)
    }

    public func cancel(_ upstream: UpstreamJob) async {
        for url in upstream.parts.compactMap(\.cancelURL) {
            _ = try? await curl.perform(CurlRequest(method: "PUT", url: url, headers: headers, body: .bytes([]), totalTimeout: .seconds(30)))
        }
    }
}

extension FalProvider {
    /// Built when `providers.fal.key` (`FAL_KEY`) is set.
    static let registration = ProviderRegistration(settings: FalSettings.self, reservedSettings: reservedSettings) { context in
        let settings = context.configuration.providers.fal
        guard let key = settings.key, !key.isEmpty else { return [] }
        let provider = FalProvider(key: key, baseURL: settings.baseURL, curl: context.curl, urlGuard: context.urlGuard,
                                   inputs: try context.inputs(scratch: "inputs"), pollInterval: settings.pollIntervalSeconds)
        return [ProviderEntry(provider, limits: settings.limits, omniFlashModel: "google/gemini-omni-flash")]
    }
}
