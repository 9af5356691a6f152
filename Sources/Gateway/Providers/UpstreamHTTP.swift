import Curl
import Domain
import Store
import Foundation

/// What every HTTP-based adapter shares: classifying an upstream answer into success or a
/// ``ProviderError`` with its retry hint (SPEC §3: retryable 408/429/5xx and transport faults,
/// honouring `Retry-After`, `retry-after-ms` and google.rpc `RetryInfo`; permanent otherwise).
enum UpstreamHTTP {
    /// Throws a classified error unless the response is 2xx.
    static func check(_ response: CurlResponse, body: JSONValue?, provider: String) throws(ProviderError) {
        guard !(200..<300).contains(response.status) else { return }
        let message = errorMessage(body) ?? "HTTP \(response.status) from \(response.url.isEmpty ? provider : URLHost.of(response.url))"
        let hint = retryHint(response, body: body)
        switch response.status {
        case 408, 409, 429, 500...599:
            throw ProviderError(kind: .retryable, code: response.status == 429 ? .providerRateLimited : .providerError,
                                message: "\(provider): \(message)", retryAfter: hint)
        case 400, 422:
            throw ProviderError(kind: .permanent, code: isSafety(message) ? .contentPolicyViolation : .invalidInput, message: "\(provider): \(message)")
        default:
            throw ProviderError(kind: .permanent, code: .providerError, message: "\(provider): \(message)")
        }
    }

    /// A transport failure as a provider error.
    static func transport(_ error: any Error, provider: String) -> ProviderError {
        if let curl = error as? CurlError {
            if curl.kind == .cancelled { return ProviderError(kind: .permanent, code: .taskCancelled, message: "\(provider): cancelled") }
            // A result over our size cap will not shrink on retry; everything else may pass.
            return ProviderError(kind: curl.kind == .tooLarge ? .permanent : .retryable, code: .providerError,
                                 message: "\(provider): \(curl.kind.rawValue): \(curl.message)")
        }
        if let provider = error as? ProviderError { return provider }
        return ProviderError(kind: .retryable, code: .providerError, message: "\(provider): \(error)")
    }

    /// `{"error": {"code": <string|int>, "message": …}}` (Interactions and google.rpc), or a flat `message`/`detail`.
    static func errorMessage(_ body: JSONValue?) -> String? {
        guard let body else { return nil }
        if let error = body["error"] {
            if let message = error["message"]?.string { return message }
            if let text = error.string { return text }
        }
        if let first = body["errors"]?.array?.first?["message"]?.string { return first }  // Runware
        if let items = body["detail"]?.array {  // fal validation errors: [{loc, msg, type}]
            return items.compactMap { $0["msg"]?.string }.joined(separator: "; ")
        }
        return body["message"]?.string ?? body["detail"]?.string
    }

    /// Seconds to wait: `retry-after-ms`, `Retry-After` (seconds or HTTP-date), or google.rpc
    /// `RetryInfo.retryDelay` ("15s", "1.5s") in the error's details.
    static func retryHint(_ response: CurlResponse, body: JSONValue?) -> Double? {
        if let ms = response.header("retry-after-ms").flatMap(Double.init) { return ms / 1000 }
        if let text = response.header("retry-after") {
            if let seconds = Double(text) { return seconds }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = formatter.date(from: text) { return max(0, date.timeIntervalSinceNow) }
        }
        for detail in body?["error"]?["details"]?.array ?? [] where detail["@type"]?.string?.hasSuffix("google.rpc.RetryInfo") == true {
            if let delay = detail["retryDelay"]?.string, delay.hasSuffix("s"), let seconds = Double(delay.dropLast()) { return seconds }
        }
        return nil
    }

    static func isSafety(_ message: String) -> Bool {
        let lower = message.lowercased()
        return ["safety", "blocked", "prohibited", "responsible ai", "content policy", "policy violation"].contains { lower.contains($0) }
    }
}

extension UpstreamHTTP {
    /// Downloads a result video from a URL an upstream returned (usually a CDN): checked by the
    /// URL guard and pinned like any other outbound URL, capped, streamed to `path`.
    static func downloadResult(_ url: String, to path: String, curl: CurlClient, urlGuard: URLGuard, provider: String) async throws(ProviderError) {
        let checked: CheckedURL
        do {
            checked = try await urlGuard.check(url)
        } catch {
            throw ProviderError(kind: .permanent, code: .providerError, message: "\(provider): result URL refused: \(error.reason)")
        }
        let response: CurlResponse
        do {
            response = try await curl.perform(CurlRequest(
                url: url, headers: [("User-Agent", DeliveryWorker.userAgent)], sink: .file(path: path, maxBytes: 8 << 30),
                totalTimeout: nil, lowSpeed: (1024, 60), pinnedAddress: checked.address.description))
        } catch {
            throw transport(error, provider: "\(provider): result download from \(URLHost.of(url))")
        }
        try check(response, body: nil, provider: "\(provider): result download")
    }

    /// Scheme, host and port of a URL, lower-cased, for same-origin checks on URLs an upstream
    /// hands back (where our requests, and keys, will go).
    static func origin(_ url: String) -> String {
        guard let range = url.range(of: "://") else { return "" }
        let rest = url[range.upperBound...]
        return url[..<range.upperBound].lowercased() + rest.prefix { $0 != "/" && $0 != "?" }.lowercased()
    }

    /// A `Location` header made absolute against the URL that sent it (RFC 9110 §10.2.2);
    /// nil for anything but http(s).
    static func resolve(_ location: String, against base: String) -> String? {
        let lower = location.lowercased()
        if lower.hasPrefix("https://") || lower.hasPrefix("http://") { return location }
        if lower.contains("://") { return nil }
        let baseOrigin = origin(base)
        guard !baseOrigin.isEmpty else { return nil }
        if location.hasPrefix("//") { return String(baseOrigin.prefix { $0 != ":" }) + ":" + location }
        if location.hasPrefix("/") { return baseOrigin + location }
        let path = base.dropFirst(baseOrigin.count).prefix { $0 != "?" && $0 != "#" }
        let directory = path.lastIndex(of: "/").map { path[...$0] } ?? "/"
        return baseOrigin + directory + location
    }

    static func call(_ curl: CurlClient, _ request: CurlRequest, provider: String) async throws(ProviderError) -> CurlResponse {
        do {
            return try await curl.perform(request)
        } catch {
            throw transport(error, provider: "\(provider) (\(URLHost.of(request.url)))")
        }
    }

    /// An inline image as a data URI (what task-style APIs accept in place of a URL).
    static func imageReference(_ input: VideoInferenceRequest.ImageInput, inputs: InputFetcher?, owner: MediaOwner) async throws(ProviderError)
        -> String
    {
        switch input {
        case .url(let url): return url
        case .dataURI(let uri): return uri
        case .base64, .uploaded:
            guard let inputs else { throw ProviderError(kind: .permanent, code: .invalidInput, message: "image inputs need a fetcher") }
            let local = try await inputs.image(input, owner: owner)
            defer { if local.temporary { try? FileManager.default.removeItem(atPath: local.path) } }
            guard let data = FileManager.default.contents(atPath: local.path) else { throw ProviderError.retryable("reading the image failed") }
            return "data:\(local.mimeType);base64,\(data.base64EncodedString())"
        }
    }
}
