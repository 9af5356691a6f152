import Curl
import Domain
import Store
import Foundation

/// Gemini Omni Flash through the Gemini Interactions API (SPEC §8.2, upstreams.md §1).
///
/// One background, stored interaction per requested result (the API makes one video per
/// interaction), so the upstream id is the comma-joined interaction ids. Polls land in a file
/// and are read with ``LargeJSONReader``, because a completed interaction carries its video as
/// inline base64 even when `delivery: "uri"` was asked for.
public struct GeminiProvider: VideoProvider {
    public let name = "gemini"
    let apiKey: String
    let baseURL: String
    let version: String
    let curl: CurlClient
    /// Where poll responses are kept until their video is decoded.
    let workDirectory: String
    public let pollInterval: Double
    let requestTimeout: Duration
    /// Fetches URL, uploaded and earlier-result inputs; without one, only inline images are sent.
    let inputs: InputFetcher?
    /// Checks every hop of a Files download that leaves the configured origin (SPEC §7).
    let urlGuard: URLGuard
    /// Images up to this size travel inline in the create body; larger ones through the Files API.
    static let inlineImageLimit: Int64 = 2 << 20
    /// `providerSettings.google` may add to the create body, but not set what reelgate owns:
    /// which model, what input, which interaction an edit continues, how the video comes back.
    public static let reservedSettings: (section: String, fields: Set<String>) = (
        "google", ["model", "agent", "input", "previous_interaction_id", "response_format", "generation_config", "background", "store", "stream"]
    )

    init(apiKey: String, baseURL: String, version: String, curl: CurlClient, urlGuard: URLGuard, workDirectory: String, pollInterval: Double = 5,
         requestTimeout: Double = 60, inputs: InputFetcher? = nil) {
        self.urlGuard = urlGuard
        self.requestTimeout = .seconds(requestTimeout)
        self.inputs = inputs
        self.apiKey = apiKey
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.version = version
        self.curl = curl
        self.workDirectory = workDirectory
        self.pollInterval = pollInterval
        try? FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    }

    private var headers: [(name: String, value: String)] {
        [("x-goog-api-key", apiKey), ("Content-Type", "application/json"), ("Accept", "application/json"), ("User-Agent", DeliveryWorker.userAgent)]
    }

    // MARK: Submit

    /// The media blocks of a job and the task they make (text_to_video, image_to_video, …).
    struct PreparedMedia {
        var blocks: [JSONValue] = []
        var task = "text_to_video"
        var temporaryFiles: [String] = []
    }

    /// Images inline when small, else uploaded; the input or source video uploaded (SPEC §8.2).
    func prepareMedia(_ job: ProviderJob) async throws(ProviderError) -> PreparedMedia {
        let request = job.request
        var prepared = PreparedMedia()
        if let frame = request.inputs.frameImage {
            prepared.blocks.append(try await imageBlock(frame.image, owner: job.mediaOwner, &prepared))
            prepared.task = "image_to_video"
        } else if !request.inputs.referenceImages.isEmpty {
            for reference in request.inputs.referenceImages { prepared.blocks.append(try await imageBlock(reference, owner: job.mediaOwner, &prepared)) }
            prepared.task = "reference_to_video"
        }
        if request.inputs.videoId != nil || request.inputs.video != nil {
            prepared.task = "edit"
            // Continuing a stored interaction needs no video; anything else sends the source.
            let source = job.previousInteractionID == nil ? (request.inputs.video ?? request.inputs.videoId) : request.inputs.video
            if let source {
                guard let inputs else {
                    throw ProviderError(kind: .permanent, code: .invalidInput, message: "gemini: video inputs need the Files API")
                }
                let local = try await inputs.video(source, owner: job.mediaOwner)
                if local.temporary { prepared.temporaryFiles.append(local.path) }
                let uri = try await uploadFile(local, waitUntilActive: true)
                prepared.blocks.append(["type": "video", "mime_type": .string(local.mimeType), "uri": .string(uri)])
            }
        }
        return prepared
    }

    /// Data URIs and base64 go inline as given; URLs and uploads are fetched first, then sent
    /// inline when small or through the Files API when large.
    private func imageBlock(_ input: VideoInferenceRequest.ImageInput, owner: MediaOwner, _ prepared: inout PreparedMedia) async throws(ProviderError)
        -> JSONValue
    {
        switch input {
        case .dataURI, .base64:
            return try inlineImage(input)
        case .url, .uploaded:
            guard let inputs else { return try inlineImage(input) }
            let local = try await inputs.image(input, owner: owner)
            if local.temporary { prepared.temporaryFiles.append(local.path) }
            if local.bytes <= Self.inlineImageLimit, let data = FileManager.default.contents(atPath: local.path) {
                return ["type": "image", "mime_type": .string(local.mimeType), "data": .string(data.base64EncodedString())]
            }
            let uri = try await uploadFile(local, waitUntilActive: false)
            return ["type": "image", "mime_type": .string(local.mimeType), "uri": .string(uri)]
        }
    }

    /// The create body for one result with inline images only (for tests of the wire format).
    public func createBody(_ job: ProviderJob, resultIndex: Int) throws(ProviderError) -> JSONValue {
        var media = PreparedMedia()
        if let frame = job.request.inputs.frameImage {
            media.blocks = [try inlineImage(frame.image)]
            media.task = "image_to_video"
        } else if !job.request.inputs.referenceImages.isEmpty {
            for input in job.request.inputs.referenceImages { media.blocks.append(try inlineImage(input)) }
            media.task = "reference_to_video"
        }
        if job.request.inputs.videoId != nil || job.request.inputs.video != nil { media.task = "edit" }
        return createBody(job, resultIndex: resultIndex, media: media)
    }

    func createBody(_ job: ProviderJob, resultIndex: Int, media: PreparedMedia) -> JSONValue {
        let request = job.request
        var prompt = request.positivePrompt
        if let negative = request.negativePrompt { prompt += "\n\nAvoid: \(negative)" }  // Omni has no negative prompt
        let content: [JSONValue] = [["type": "text", "text": .string(prompt)]] + media.blocks
        var format: [String: JSONValue] = [
            "type": "video", "aspect_ratio": .string(request.effectiveAspectRatio == "9:16" ? "9:16" : "16:9"),
            "duration": .string("\(request.duration)s"), "resolution": .string(request.resolution ?? "720p"),
        ]
        format["delivery"] = "inline"
        var config: [String: JSONValue] = ["video_config": ["task": .string(media.task)]]
        if job.results.indices.contains(resultIndex) {
            config["seed"] = .int(job.results[resultIndex].seed & 0x7FFF_FFFF)
        }
        var body: [String: JSONValue] = [
            "model": .string(job.upstreamModel), "background": true, "store": true,
            "input": [["type": "user_input", "content": .array(content)]],
            "response_format": .object(format), "generation_config": .object(config),
        ]
        if let previous = job.previousInteractionID { body["previous_interaction_id"] = .string(previous) }
        if let extra = request.providerSettings["google"]?.object {
            for (key, value) in extra where body[key] == nil { body[key] = value }
        }
        return .object(body)
    }

    private func inlineImage(_ input: VideoInferenceRequest.ImageInput) throws(ProviderError) -> JSONValue {
        switch input {
        case .dataURI(let uri):
            let comma = uri.firstIndex(of: ",")!
            let mime = String(uri[uri.index(uri.startIndex, offsetBy: 5)..<comma].dropLast(7))
            return ["type": "image", "mime_type": .string(mime == "image/jpg" ? "image/jpeg" : mime), "data": .string(String(uri[uri.index(after: comma)...]))]
        case .base64(let data):
            let mime = Data(base64Encoded: String(data.prefix(64)).padding(toLength: 64, withPad: "=", startingAt: 0)).flatMap(ImageSniffer.kind) ?? "image/png"
            return ["type": "image", "mime_type": .string(mime), "data": .string(data)]
        case .url, .uploaded:
            throw ProviderError(kind: .permanent, code: .invalidInput, message: "gemini: this image must be fetched first")
        }
    }

    // MARK: Files API

    /// The resumable upload (upstreams.md §2): start, then upload+finalize streamed from disk;
    /// videos are then polled until `ACTIVE`. Returns the file's `uri`.
    func uploadFile(_ input: InputFetcher.LocalInput, waitUntilActive: Bool) async throws(ProviderError) -> String {
        let startBody = JSONValue.object(["file": ["display_name": "reelgate-input", "mime_type": .string(input.mimeType)]])
        let start = try await call(CurlRequest(
            method: "POST", url: "\(baseURL)/upload/\(version)/files",
            headers: headers + [("X-Goog-Upload-Protocol", "resumable"), ("X-Goog-Upload-Command", "start"),
                                ("X-Goog-Upload-Header-Content-Length", String(input.bytes)), ("X-Goog-Upload-Header-Content-Type", input.mimeType)],
            body: .bytes(startBody.serializedBytes()), totalTimeout: requestTimeout))
        try UpstreamHTTP.check(start, body: try? JSONParser.parse(start.body), provider: name)
        // Our bytes go where this header says: only ever back to the configured origin.
        guard let uploadURL = start.header("x-goog-upload-url"), UpstreamHTTP.origin(uploadURL) == UpstreamHTTP.origin(baseURL) else {
            throw ProviderError.retryable("gemini: the upload start gave no upload URL on \(UpstreamHTTP.origin(baseURL))")
        }
        let upload = try await call(CurlRequest(
            method: "POST", url: uploadURL,
            headers: [("X-Goog-Upload-Command", "upload, finalize"), ("X-Goog-Upload-Offset", "0"), ("Content-Type", input.mimeType)],
            body: .file(path: input.path), sink: .memory(maxBytes: 1 << 20), totalTimeout: nil, lowSpeed: (1024, 60)))
        let json = try? JSONParser.parse(upload.body)
        try UpstreamHTTP.check(upload, body: json, provider: name)
        guard upload.header("x-goog-upload-status") == "final", let file = json?["file"], let uri = file["uri"]?.string,
            let fileName = file["name"]?.string
        else { throw ProviderError.retryable("gemini: the upload did not finalize") }
        var state = file["state"]?.string ?? "ACTIVE"
        let deadline = Date().addingTimeInterval(600)
        while waitUntilActive, state == "PROCESSING" || state == "STATE_UNSPECIFIED" {
            guard Date() < deadline else { throw ProviderError.retryable("gemini: the uploaded video did not become ACTIVE") }
            try? await Task.sleep(for: .seconds(pollInterval))
            let poll = try await call(CurlRequest(url: "\(baseURL)/\(version)/\(fileName)", headers: headers, totalTimeout: requestTimeout))
            let body = try? JSONParser.parse(poll.body)
            try UpstreamHTTP.check(poll, body: body, provider: name)
            state = body?["state"]?.string ?? "ACTIVE"
        }
        guard state != "FAILED" else {
            throw ProviderError(kind: .permanent, code: .invalidInput, message: "gemini: the uploaded file could not be processed")
        }
        return uri
    }


    public func submit(_ job: ProviderJob) async throws(ProviderError) -> UpstreamJob {
        let media = try await prepareMedia(job)
        defer { for file in media.temporaryFiles { try? FileManager.default.removeItem(atPath: file) } }
        var ids: [String] = []
        for index in job.results.indices {
            let body = createBody(job, resultIndex: index, media: media).serializedBytes()
            let response = try await call(CurlRequest(
                method: "POST", url: "\(baseURL)/\(version)/interactions", headers: headers, body: .bytes(body),
                sink: .memory(maxBytes: 4 << 20), totalTimeout: requestTimeout))
            let json = try? JSONParser.parse(response.body)
            try UpstreamHTTP.check(response, body: json, provider: name)
            ids.append(try UpstreamJobList.jobID(json?["id"]?.string, provider: name, noun: "an interaction id"))
        }
        return UpstreamJob(ids: ids)
    }

    // MARK: Poll

    public func poll(_ upstream: UpstreamJob, job: ProviderJob) async throws(ProviderError) -> ProviderStatus {
        var outputs: [String] = []
        var progress = 100
        for id in upstream.ids {
            let file = "\(workDirectory)/\(Self.safeName(id)).json"
            let response = try await call(CurlRequest(
                url: "\(baseURL)/\(version)/interactions/\(id)", headers: headers, sink: .file(path: file, maxBytes: 1 << 30),
                totalTimeout: requestTimeout * 5, lowSpeed: (1024, 30)))
            let json: JSONValue
            do {
                json = try LargeJSONReader.parse(path: file)
            } catch {
                try? FileManager.default.removeItem(atPath: file)
                if (200..<300).contains(response.status) { throw ProviderError.retryable("gemini: unreadable interaction: \(error)") }
                throw ProviderError(kind: response.status >= 500 || response.status == 429 ? .retryable : .permanent, code: .providerError,
                                    message: "gemini: HTTP \(response.status)", retryAfter: UpstreamHTTP.retryHint(response, body: nil))
            }
            try UpstreamHTTP.check(response, body: json, provider: name)
            switch json["status"]?.string ?? "" {
            case "queued":
                progress = min(progress, 5)
            case "in_progress", "requires_continuation", "":
                progress = min(progress, 50)
            case "completed":
                guard let output = Self.videoOutput(json, pollFile: file) else {
                    return .failed(ProviderError(kind: .permanent, code: .providerError, message: "gemini: completed without a video"))
                }
                outputs.append(output)
            default:
                return .failed(Self.failure(json))
            }
        }
        return progress < 100 ? .running(progress: progress) : .succeeded(outputs: outputs, cost: nil)
    }

    /// The video of a completed interaction: `steps[type=model_output].content[type=video]`, or a
    /// flat `outputs[]`; as `inline:<file>:<offset>:<length>`, `b64:<data>` or `uri:<url>`.
    static func videoOutput(_ json: JSONValue, pollFile: String) -> String? {
        var blocks: [JSONValue] = []
        for step in (json["steps"]?.array ?? []).reversed() where step["type"]?.string == "model_output" {
            blocks += step["content"]?.array ?? []
        }
        blocks += json["outputs"]?.array ?? []
        guard let video = blocks.first(where: { $0["type"]?.string == "video" }) else { return nil }
        if let data = video["data"]?.string {
            if let span = LargeJSONReader.span(of: data) { return "inline:\(pollFile):\(span.offset):\(span.length)" }
            return "b64:\(data)"
        }
        return video["uri"]?.string.map { "uri:\($0)" }
    }

    /// A failed interaction's reason; safety blocks become `contentPolicyViolation`.
    static func failure(_ json: JSONValue) -> ProviderError {
        let status = json["status"]?.string ?? "failed"
        var messages: [String] = []
        for error in json["errors"]?.array ?? [] { if let m = error["message"]?.string { messages.append(m) } }
        for step in json["steps"]?.array ?? [] { if let m = step["error"]?["message"]?.string { messages.append(m) } }
        let message = messages.first ?? "the interaction ended as \(status)"
        if status == "cancelled" { return ProviderError(kind: .permanent, code: .taskCancelled, message: "gemini: \(message)") }
        let code: APIErrorCode = UpstreamHTTP.isSafety(message) ? .contentPolicyViolation : .providerError
        return ProviderError(kind: .permanent, code: code, message: "gemini: \(message)")
    }

    // MARK: Fetch and cancel

    public func fetch(output reference: String, job: ProviderJob, to path: String) async throws(ProviderError) {
        do {
            if reference.hasPrefix("inline:") {
                let parts = reference.dropFirst(7).split(separator: ":")
                guard parts.count >= 3, let offset = Int64(parts[parts.count - 2]), let length = Int64(parts[parts.count - 1]) else {
                    throw ProviderError(kind: .permanent, code: .providerError, message: "gemini: bad output reference")
                }
                let file = parts.dropLast(2).joined(separator: ":")
                try await BlockingIO.run {
                    try LargeJSONReader.decodeBase64(.init(offset: offset, length: length), from: file, to: path)
                }
                try? FileManager.default.removeItem(atPath: file)
            } else if reference.hasPrefix("b64:") {
                let data = String(reference.dropFirst(4))
                try await BlockingIO.run {
                    guard let bytes = Data(base64Encoded: data) else { throw LargeJSONReader.Failed(description: "the video is not valid base64") }
                    try bytes.write(to: URL(fileURLWithPath: path))
                }
            } else if reference.hasPrefix("uri:") {
                // As the SDK does: a Files API URI names a file, downloaded from *our configured*
                // base URL (never from a host an upstream response names).
                guard let file = Self.fileID(in: String(reference.dropFirst(4))) else {
                    throw ProviderError(kind: .permanent, code: .providerError, message: "gemini: output uri is not a Files API file")
                }
                try await download("\(baseURL)/\(version)/files/\(file):download?alt=media", to: path)
            } else {
                throw ProviderError(kind: .permanent, code: .providerError, message: "gemini: unknown output reference")
            }
        } catch let error as ProviderError {
            throw error
        } catch {
            throw ProviderError.retryable("gemini: storing the video failed: \(error)")
        }
    }

    /// The Files download, which redirects to storage: followed hop by hop, at most five. A hop
    /// on the configured origin carries the key; any other hop is a URL from a response, so it
    /// passes the URL guard, is pinned to the address checked, and never sees the key.
    func download(_ start: String, to path: String) async throws(ProviderError) {
        var url = start
        for _ in 0...5 {
            let onOrigin = UpstreamHTTP.origin(url) == UpstreamHTTP.origin(baseURL)
            var pinned: String?
            if !onOrigin {
                do {
                    pinned = try await urlGuard.check(url).address.description
                } catch {
                    throw ProviderError(kind: .permanent, code: .providerError,
                                        message: "gemini: the video download redirect to \(URLHost.of(url)) was refused: \(error.reason)")
                }
            }
            let response = try await call(CurlRequest(
                url: url, headers: onOrigin ? [("x-goog-api-key", apiKey)] : [("User-Agent", DeliveryWorker.userAgent)],
                sink: .file(path: path, maxBytes: 8 << 30), totalTimeout: nil, lowSpeed: (1024, 60), pinnedAddress: pinned))
            if (300..<400).contains(response.status), let location = response.header("location") {
                guard let next = UpstreamHTTP.resolve(location, against: url) else {
                    throw ProviderError(kind: .permanent, code: .providerError, message: "gemini: the video download redirected to an unusable location")
                }
                url = next
                continue
            }
            try UpstreamHTTP.check(response, body: nil, provider: onOrigin ? name : "gemini storage at \(URLHost.of(url))")
            return
        }
        throw ProviderError(kind: .permanent, code: .providerError, message: "gemini: the video download redirected more than 5 times")
    }

    public func cancel(_ upstream: UpstreamJob) async {
        for id in upstream.ids {
            _ = try? await curl.perform(CurlRequest(
                method: "POST", url: "\(baseURL)/\(version)/interactions/\(id)/cancel", headers: headers, body: .bytes([]),
                totalTimeout: .seconds(30)))
        }
    }

    private func call(_ request: CurlRequest) async throws(ProviderError) -> CurlResponse {
        try await UpstreamHTTP.call(curl, request, provider: name)
    }

    /// `files/<id>` in a Files API URI (ids are lower-case letters and digits).
    static func fileID(in uri: String) -> String? {
        guard let range = uri.range(of: "files/") else { return nil }
        let id = uri[range.upperBound...].prefix { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
        return id.isEmpty ? nil : String(id)
    }

    static func safeName(_ id: String) -> String {
        String(id.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
    }
}

extension GeminiProvider {
    /// Built when `providers.gemini.apiKey` (`GEMINI_API_KEY`) is set.
    static let registration = ProviderRegistration(settings: GeminiSettings.self, reservedSettings: reservedSettings) { context in
        let settings = context.configuration.providers.gemini
        guard let key = settings.apiKey, !key.isEmpty else { return [] }
        let work = "\(context.configuration.dataDir)/upstream/gemini"
        let provider = GeminiProvider(
            apiKey: key, baseURL: settings.baseURL, version: settings.apiVersion, curl: context.curl, urlGuard: context.urlGuard,
            workDirectory: work, pollInterval: settings.pollIntervalSeconds, requestTimeout: settings.requestTimeoutSeconds,
            inputs: try context.inputs(scratch: "gemini"))
        return [ProviderEntry(provider, limits: settings.limits, omniFlashModel: settings.model)]
    }
}
