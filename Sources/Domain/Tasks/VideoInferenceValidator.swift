import Foundation

/// Turns a `videoInference` task object into a ``VideoInferenceRequest`` or the first specific
/// error, checked in a fixed order so the same input always gets the same answer.
///
/// Nothing invalid is ignored silently: unknown fields are `unsupportedParameter`, and every value
/// outside SPEC §2's ranges gets a named code with its parameter path.
public struct VideoInferenceValidator: Sendable {
    /// Inbound model ids this gateway routes; `nil` skips the check (re-reading stored tasks).
    public var knownModels: [String]?
    /// Checks an outbound URL (webhook, upload, input); returns why it is refused, or nil.
    public var checkURL: @Sendable (_ url: String, _ parameter: String) -> APIErrorItem?
    /// Fields each provider's `providerSettings` section may not set, by section (`google`,
    /// `fal`): reelgate owns them (the model, the input, the interaction an edit continues, …).
    public var reservedProviderSettings: [String: Set<String>]

    public init(
        knownModels: [String]?, reservedProviderSettings: [String: Set<String>] = [:],
        checkURL: @escaping @Sendable (String, String) -> APIErrorItem? = VideoInferenceValidator.basicURLCheck
    ) {
        self.knownModels = knownModels
        self.reservedProviderSettings = reservedProviderSettings
        self.checkURL = checkURL
    }

    /// Prompt lengths: characters are Unicode code points (a combining mark is one), and the
    /// UTF-8 size is bounded as well, so a prompt cannot be a few "characters" and megabytes.
    public static let maxPromptCharacters = 3000
    public static let maxPromptBytes = 12_000

    static let knownKeys: Set<String> = [
        "taskType", "taskUUID", "model", "positivePrompt", "negativePrompt", "duration", "width", "height", "aspectRatio",
        "resolution", "fps", "seed", "numberResults", "outputType", "outputFormat", "outputQuality", "deliveryMethod",
        "webhookURL", "uploadEndpoint", "ttl", "includeCost", "safety", "providerSettings", "inputs", "frameImages",
        "referenceImages",
    ]
    public static let aspectRatios = ["16:9", "9:16", "1:1"]
    /// Seconds a video may last (Gemini Omni Flash's range, which every routed model accepts).
    public static let durations = 3...10
    public static let resolutions = ["720p", "1080p"]
    /// The largest decoded inline image.
    public static let maxImageBytes = 20 * 1024 * 1024
    /// Upper bound on `ttl`, so stored media cannot pin the disk budget for ever.
    public static let maxTTL = 30 * 86_400

    public func validate(_ task: [String: JSONValue]) -> Result<VideoInferenceRequest, APIErrorItem> {
        do {
            return .success(try check(task))
        } catch {
            return .failure(error)
        }
    }

    private func check(_ t: [String: JSONValue]) throws(APIErrorItem) -> VideoInferenceRequest {
        let taskUUID = try Self.taskUUID(t)
        for key in t.keys.sorted() where !Self.knownKeys.contains(key) {
            throw APIErrorItem(
                code: .unsupportedParameter, message: "parameter \(APIErrorItem.echo(key)) is not supported by videoInference",
                parameter: .one(APIErrorItem.echo(key)))
        }

        guard let modelValue = t["model"] else {
            throw APIErrorItem(code: .missing("model"), message: "model is required", parameter: .one("model"))
        }
        guard let model = modelValue.string, Self.isAIR(model) else {
            throw .invalid("model", "model must be an AIR id such as google:gemini@omni-flash")
        }
        if let knownModels, !knownModels.contains(model) {
            throw APIErrorItem(
                code: .unknownModel, message: "model \(model) is not routed by this gateway", parameter: .one("model"),
                allowedValues: knownModels.sorted().map { .string($0) })
        }

        guard let promptValue = t["positivePrompt"] else {
            throw APIErrorItem(code: .missing("positivePrompt"), message: "positivePrompt is required", parameter: .one("positivePrompt"))
        }
        let prompt = try promptText(promptValue, "positivePrompt", minimum: 2)
        let negative = try t["negativePrompt"].map { value throws(APIErrorItem) in try promptText(value, "negativePrompt", minimum: 1) }

        let duration = try int(t, "duration", Self.durations, default: 10)
        let width = try optionalInt(t, "width", 256...4096)
        let height = try optionalInt(t, "height", 256...4096)
        if let width, width % 8 != 0 { throw .invalid("width", "width must be a multiple of 8") }
        if let height, height % 8 != 0 { throw .invalid("height", "height must be a multiple of 8") }
        if (width == nil) != (height == nil) {
            let missing = width == nil ? "width" : "height"
            throw APIErrorItem(
                code: .missing(missing), message: "width and height go together",
                parameter: .many(["width", "height"]))
        }
        let aspectRatio = try optionalEnum(t, "aspectRatio", Self.aspectRatios)
        if let aspectRatio, let width, let height, Self.ratio(width, height) != aspectRatio {
            throw APIErrorItem(
                code: .incompatibleParameters, message: "width×height \(width)×\(height) is not aspect ratio \(aspectRatio)",
                parameter: .many(["width", "height", "aspectRatio"]))
        }
        let resolution = try optionalEnum(t, "resolution", Self.resolutions)
        let fps = try optionalInt(t, "fps", 1...60)
        var seed: Int64?
        if let value = t["seed"] {
            guard let s = value.integer, s >= 0 else { throw .invalid("seed", "seed must be a non-negative integer") }
            seed = s
        }
        let numberResults = try int(t, "numberResults", 1...4, default: 1)

        let outputTypeText = try optionalEnum(t, "outputType", VideoInferenceRequest.OutputType.allCases.map(\.rawValue)) ?? "URL"
        let outputType = VideoInferenceRequest.OutputType(rawValue: outputTypeText)!
        var outputFormat = VideoInferenceRequest.OutputFormat.mp4
        if let value = t["outputFormat"] {
            guard let text = value.string, let format = VideoInferenceRequest.OutputFormat(rawValue: text.uppercased()) else {
                throw .invalid("outputFormat", "outputFormat must be MP4, WEBM or MOV",
                               allowed: VideoInferenceRequest.OutputFormat.allCases.map { .string($0.rawValue) })
            }
            outputFormat = format
        }
        let quality = try int(t, "outputQuality", 20...99, default: 95)

        if let value = t["deliveryMethod"] {
            switch value.string {
            case "async": break
            case "sync":
                throw APIErrorItem(
                    code: .unsupportedParameter, message: "deliveryMethod sync is not supported for video; use async and poll getResponse",
                    parameter: .one("deliveryMethod"), allowedValues: ["async"])
            default:
                throw .invalid("deliveryMethod", "deliveryMethod must be async", allowed: ["async"])
            }
        }

        let webhookURL = try optionalString(t, "webhookURL", maxLength: 2048)
        if let webhookURL, let error = checkURL(webhookURL, "webhookURL") { throw error }
        let uploadEndpoint = try optionalString(t, "uploadEndpoint", maxLength: 2048)
        if let uploadEndpoint, let error = checkURL(uploadEndpoint, "uploadEndpoint") { throw error }

        var ttl = 86_400
        if let value = t["ttl"] {
            guard let v = value.integer, v >= 60, v <= Self.maxTTL else {
                throw .invalid("ttl", "ttl must be an integer from 60 to \(Self.maxTTL) seconds")
            }
            guard outputType == .url else {
                throw APIErrorItem(code: .incompatibleParameters, message: "ttl only applies to outputType URL",
                                   parameter: .many(["ttl", "outputType"]))
            }
            ttl = Int(v)
        }
        var includeCost = false
        if let value = t["includeCost"] {
            guard let b = value.bool else { throw .invalid("includeCost", "includeCost must be a boolean") }
            includeCost = b
        }

        var checkContent = false
        var safetyMode = "none"
        if let value = t["safety"] {
            guard let safety = value.object else { throw .invalid("safety", "safety must be an object") }
            for key in safety.keys.sorted() where key != "checkContent" && key != "mode" {
                throw APIErrorItem(code: .unsupportedParameter, message: "safety.\(APIErrorItem.echo(key)) is not supported",
                                   parameter: .one("safety.\(APIErrorItem.echo(key))"))
            }
            if let v = safety["checkContent"] {
                guard let b = v.bool else { throw .invalid("safety.checkContent", "safety.checkContent must be a boolean", code: .invalid("safety")) }
                checkContent = b
            }
            if let v = safety["mode"] {
                guard let m = v.string, ["none", "fast", "full"].contains(m) else {
                    throw .invalid("safety.mode", "safety.mode must be none, fast or full", code: .invalid("safety"), allowed: ["none", "fast", "full"])
                }
                safetyMode = m
            }
        }
        var providerSettings: [String: JSONValue] = [:]
        if let value = t["providerSettings"] {
            guard let o = value.object else { throw .invalid("providerSettings", "providerSettings must be an object") }
            for (section, reserved) in reservedProviderSettings.sorted(by: { $0.key < $1.key }) {
                guard let settings = o[section] else { continue }
                guard let fields = settings.object else {
                    throw .invalid("providerSettings.\(section)", "providerSettings.\(section) must be an object", code: .invalid("providerSettings"))
                }
                for field in fields.keys.sorted() where reserved.contains(field) {
                    throw APIErrorItem(
                        code: .unsupportedParameter,
                        message: "providerSettings.\(section).\(field) is set by reelgate and cannot be overridden",
                        parameter: .one("providerSettings.\(section).\(field)"))
                }
            }
            providerSettings = o
        }

        let inputs = try parseInputs(t)

        return VideoInferenceRequest(
            taskUUID: taskUUID, model: model, positivePrompt: prompt, negativePrompt: negative, duration: duration, width: width,
            height: height, aspectRatio: aspectRatio, resolution: resolution, fps: fps, seed: seed, numberResults: numberResults,
            outputType: outputType, outputFormat: outputFormat, outputQuality: quality, webhookURL: webhookURL,
            uploadEndpoint: uploadEndpoint, ttl: ttl, includeCost: includeCost, checkContent: checkContent, safetyMode: safetyMode,
            providerSettings: providerSettings, inputs: inputs)
    }

    // MARK: Inputs

    private func parseInputs(_ t: [String: JSONValue]) throws(APIErrorItem) -> VideoInferenceRequest.Inputs {
        var inputs = VideoInferenceRequest.Inputs()
        var object: [String: JSONValue] = [:]
        if let value = t["inputs"] {
            guard let o = value.object else { throw .invalid("inputs", "inputs must be an object") }
            object = o
        }
        // Legacy top-level forms are accepted, but not together with their nested twins.
        for legacy in ["frameImages", "referenceImages"] {
            if let value = t[legacy] {
                guard object[legacy] == nil else {
                    throw APIErrorItem(code: .incompatibleParameters, message: "\(legacy) is given both at the top level and in inputs",
                                       parameter: .many([legacy, "inputs.\(legacy)"]))
                }
                object[legacy] = value
            }
        }
        for key in object.keys.sorted() where !["referenceImages", "frameImages", "video", "videoId"].contains(key) {
            throw APIErrorItem(code: .unsupportedParameter, message: "inputs.\(APIErrorItem.echo(key)) is not supported by this model",
                               parameter: .one("inputs.\(APIErrorItem.echo(key))"))
        }
        if let value = object["referenceImages"] {
            guard let items = value.array, (1...7).contains(items.count) else {
                throw .invalid("inputs.referenceImages", "inputs.referenceImages must be an array of 1 to 7 images")
            }
            for (i, item) in items.enumerated() {
                inputs.referenceImages.append(try image(item, parameter: "inputs.referenceImages[\(i)]", code: .invalid("referenceImages")))
            }
        }
        if let value = object["frameImages"] {
            guard let items = value.array, items.count == 1 else {
                throw .invalid("inputs.frameImages", "inputs.frameImages must hold exactly 1 item", code: .invalid("frameImages"))
            }
            inputs.frameImage = try frameImage(items[0])
        }
        if let value = object["video"] {
            guard let video = value.string, !video.isEmpty else {
                throw .invalid("inputs.video", "inputs.video must be a URL or a video UUID", code: .invalid("inputVideo"))
            }
            if Self.isUUID(video) {
                inputs.video = video.lowercased()
            } else if let error = checkURL(video, "inputs.video") {
                throw error
            } else {
                inputs.video = video
            }
        }
        if let value = object["videoId"] {
            guard let id = value.string, Self.isUUID(id) else {
                throw .invalid("inputs.videoId", "inputs.videoId must be the videoUUID of an earlier result", code: .invalid("videoId"))
            }
            inputs.videoId = id.lowercased()
        }
        return inputs
    }

    private func frameImage(_ item: JSONValue) throws(APIErrorItem) -> VideoInferenceRequest.FrameImage {
        let parameter = "inputs.frameImages[0]"
        if item.string != nil {
            return .init(image: try image(item, parameter: parameter, code: .invalid("frameImages")), position: .first)
        }
        guard let o = item.object else {
            throw .invalid(parameter, "a frame image is an image or {image, frame|timestamp}", code: .invalid("frameImages"))
        }
        for key in o.keys.sorted() where !["image", "inputImage", "frame", "timestamp"].contains(key) {
            throw APIErrorItem(code: .unsupportedParameter, message: "\(parameter).\(APIErrorItem.echo(key)) is not supported",
                               parameter: .one("\(parameter).\(APIErrorItem.echo(key))"))
        }
        guard let imageValue = o["image"] ?? o["inputImage"] else {
            throw APIErrorItem(code: .missing("frameImage"), message: "\(parameter).image is required", parameter: .one("\(parameter).image"))
        }
        let img = try image(imageValue, parameter: "\(parameter).image", code: .invalid("frameImages"))
        if o["frame"] != nil, o["timestamp"] != nil {
            throw APIErrorItem(code: .incompatibleParameters, message: "give frame or timestamp, not both",
                               parameter: .many(["\(parameter).frame", "\(parameter).timestamp"]))
        }
        if let frame = o["frame"] {
            if let name = frame.string, name == "first" || name == "last" {
                return .init(image: img, position: name == "first" ? .first : .last)
            }
            guard let n = frame.integer, n >= 0 else {
                throw .invalid("\(parameter).frame", "frame must be first, last or a frame index ≥ 0", code: .invalid("frameImages"))
            }
            return .init(image: img, position: .frame(Int(n)))
        }
        if let ts = o["timestamp"] {
            guard let seconds = ts.number, seconds >= 0, seconds <= 10 else {
                throw .invalid("\(parameter).timestamp", "timestamp must be seconds from 0 to 10", code: .invalid("frameImages"))
            }
            return .init(image: img, position: .timestamp(seconds))
        }
        return .init(image: img, position: .first)
    }

    /// An image: URL, data URI, plain base64 or an uploaded image's UUID; png/jpeg/webp, ≤ 20 MB.
    private func image(_ value: JSONValue, parameter: String, code: APIErrorCode) throws(APIErrorItem) -> VideoInferenceRequest.ImageInput {
        guard let text = value.string, !text.isEmpty else {
            throw .invalid(parameter, "an image is a URL, a data URI, base64 or an imageUUID", code: code)
        }
        if Self.isUUID(text) { return .uploaded(text.lowercased()) }
        let lower = text.prefix(16).lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
            if let error = checkURL(text, parameter) { throw error }
            return .url(text)
        }
        if lower.hasPrefix("data:") {
            guard let comma = text.firstIndex(of: ","), text[..<comma].lowercased().hasSuffix(";base64") else {
                throw .invalid(parameter, "a data URI image must be base64-encoded", code: code)
            }
            let mime = text[text.index(text.startIndex, offsetBy: 5)..<comma].dropLast(7).lowercased()
            guard ["image/png", "image/jpeg", "image/jpg", "image/webp"].contains(mime) else {
                throw .invalid(parameter, "images must be png, jpeg or webp, not \(APIErrorItem.echo(mime))", code: code)
            }
            try checkImageBytes(String(text[text.index(after: comma)...]), parameter: parameter, code: code)
            return .dataURI(text)
        }
        try checkImageBytes(text, parameter: parameter, code: code)
        return .base64(text)
    }

    private func checkImageBytes(_ base64: String, parameter: String, code: APIErrorCode) throws(APIErrorItem) {
        guard base64.utf8.count <= (Self.maxImageBytes / 3 + 1) * 4 + 4 else {
            throw .invalid(parameter, "images may be at most 20 MB", code: code)
        }
        guard let data = Data(base64Encoded: base64, options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw .invalid(parameter, "image is not a URL, data URI, valid base64 or an imageUUID", code: code)
        }
        guard data.count <= Self.maxImageBytes else { throw .invalid(parameter, "images may be at most 20 MB", code: code) }
        guard ImageSniffer.kind(of: data) != nil else {
            throw .invalid(parameter, "image must be png, jpeg or webp", code: code)
        }
    }

    // MARK: Field helpers

    private func int(_ t: [String: JSONValue], _ key: String, _ range: ClosedRange<Int>, default fallback: Int) throws(APIErrorItem) -> Int {
        try optionalInt(t, key, range) ?? fallback
    }

    private func optionalInt(_ t: [String: JSONValue], _ key: String, _ range: ClosedRange<Int>) throws(APIErrorItem) -> Int? {
        guard let value = t[key] else { return nil }
        guard let v = value.integer, range.contains(Int(v)) else {
            throw .invalid(key, "\(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(v)
    }

    /// A prompt: `minimum`…3000 code points and at most 12,000 bytes of UTF-8.
    private func promptText(_ value: JSONValue, _ key: String, minimum: Int) throws(APIErrorItem) -> String {
        guard let text = value.string, text.utf8.count <= Self.maxPromptBytes,
            (minimum...Self.maxPromptCharacters).contains(text.unicodeScalars.count)
        else {
            throw .invalid(key, "\(key) must be a string of \(minimum) to \(Self.maxPromptCharacters) characters "
                + "(Unicode code points) and at most \(Self.maxPromptBytes) bytes of UTF-8")
        }
        return text
    }

    private func optionalString(_ t: [String: JSONValue], _ key: String, maxLength: Int) throws(APIErrorItem) -> String? {
        guard let value = t[key] else { return nil }
        guard let s = value.string, !s.isEmpty, s.count <= maxLength else {
            throw .invalid(key, "\(key) must be a non-empty string of at most \(maxLength) characters")
        }
        return s
    }

    private func optionalEnum(_ t: [String: JSONValue], _ key: String, _ allowed: [String]) throws(APIErrorItem) -> String? {
        guard let value = t[key] else { return nil }
        guard let s = value.string, allowed.contains(s) else {
            throw .invalid(key, "\(key) must be one of \(allowed.joined(separator: ", "))", allowed: allowed.map { .string($0) })
        }
        return s
    }

    // MARK: Shared checks

    /// The `taskUUID` of a task: required, a UUID v4.
    public static func taskUUID(_ t: [String: JSONValue]) throws(APIErrorItem) -> String {
        guard let value = t["taskUUID"] else {
            throw APIErrorItem(code: .missing("taskUUID"), message: "taskUUID is required", parameter: .one("taskUUID"))
        }
        guard let s = value.string, isUUIDv4(s) else {
            throw APIErrorItem(code: .invalid("taskUUID"), message: "taskUUID must be a UUID v4", parameter: .one("taskUUID"))
        }
        return s.lowercased()
    }

    /// 8-4-4-4-12 hex digits.
    public static func isUUID(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        for (i, c) in u.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return false }
            } else if !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)) {
                return false
            }
        }
        return true
    }

    /// A UUID whose version nibble is 4 and variant is RFC 4122.
    public static func isUUIDv4(_ s: String) -> Bool {
        guard isUUID(s) else { return false }
        let u = Array(s.lowercased().utf8)
        return u[14] == UInt8(ascii: "4") && [UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(u[19])
    }

    /// `provider:id@version`, at most 256 characters.
    public static func isAIR(_ s: String) -> Bool {
        // `provider:model@version`, each part non-empty ASCII letters, digits, `-`, `_` or `.`.
        let bytes = s.utf8
        guard bytes.count <= 256, let colon = bytes.firstIndex(of: UInt8(ascii: ":")), let at = bytes.lastIndex(of: UInt8(ascii: "@")), colon < at else {
            return false
        }
        func valid(_ part: Substring.UTF8View) -> Bool {
            !part.isEmpty && part.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): true
                default: false
                }
            }
        }
        return valid(bytes[..<colon]) && valid(bytes[bytes.index(after: colon)..<at]) && valid(bytes[bytes.index(after: at)...])
    }

    static func ratio(_ w: Int, _ h: Int) -> String? {
        if w == h { return "1:1" }
        if w * 9 == h * 16 { return "16:9" }
        if w * 16 == h * 9 { return "9:16" }
        return nil
    }

    /// Without the network layer's full check: https only, no userinfo, at most 2048 characters.
    public static let basicURLCheck: @Sendable (String, String) -> APIErrorItem? = { url, parameter in
        let code = APIErrorCode.refusedURL(in: parameter)
        guard url.count <= 2048 else { return APIErrorItem(code: code, message: "URL longer than 2048 characters", parameter: .one(parameter)) }
        guard url.lowercased().hasPrefix("https://") else {
            return APIErrorItem(code: code, message: "URL must use https", parameter: .one(parameter))
        }
        return nil
    }
}

/// Recognises image formats from their first bytes.
public enum ImageSniffer {
    public static func kind(of data: Data) -> String? {
        let b = [UInt8](data.prefix(12))
        if b.count >= 8, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return "image/png" }
        if b.count >= 3, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF { return "image/jpeg" }
        if b.count >= 12, b[0..<4] == Array("RIFF".utf8)[...], b[8..<12] == Array("WEBP".utf8)[...] { return "image/webp" }
        return nil
    }
}
