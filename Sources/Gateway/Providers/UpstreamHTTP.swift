import Curl
import Domain
import Foundation

/// What every HTTP-based adapter shares: classifying an upstream answer into success or a
/// ``ProviderError`` with its retry hint (SPEC §3: retryable 408/429/5xx and transport faults,
/// honouring `Retry-After`, `retry-after-ms` and google.rpc `RetryInfo`; permanent otherwise).
enum UpstreamHTTP {
    /// Throws a classified error unless the response is 2xx.
    static func check(_ response: CurlResponse, body: JSONValue?, provider: String) throws(ProviderError) {
        guard !(200..<300).contains(response.status) else { return }
        let message = errorMessage(body) ?? "HTTP \(response.status) from \(provider)"
        let hint = retryHint(response, body: body)
        switch response.status {
        case 408, 409, 429, 500...599:
            throw ProviderError(kind: .retryable, code: response.status == 429 ? "providerRateLimited" : "providerError",
                                message: "\(provider): \(message)", retryAfter: hint)
        case 400, 422:
            throw ProviderError(kind: .permanent, code: isSafety(message) ? "contentPolicyViolation" : "invalidInput", message: "\(provider): \(message)")
        default:
            throw ProviderError(kind: .permanent, code: "providerError", message: "\(provider): \(message)")
        }
    }

    /// A transport failure as a provider error.
    static func transport(_ error: any Error, provider: String) -> ProviderError {
        if let curl = error as? CurlError {
            if curl.kind == .cancelled { return ProviderError(kind: .permanent, code: "taskCancelled", message: "\(provider): cancelled") }
            // A result over our size cap will not shrink on retry; everything else may pass.
            return ProviderError(kind: curl.kind == .tooLarge ? .permanent : .retryable, code: "providerError",
                                 message: "\(provider): \(curl.kind.rawValue): \(curl.message)")
        }
        if let provider = error as? ProviderError { return provider }
        return ProviderError(kind: .retryable, code: "providerError", message: "\(provider): \(error)")
    }

    /// `{"error": {"code": <string|int>, "message": …}}` (Interactions and google.rpc), or a flat `message`/`detail`.
    static func errorMessage(_ body: JSONValue?) -> String? {
        guard let body else { return nil }
        if let error = body["error"] {
            if let message = error["message"]?.string { return message }
            if let text = error.string { return text }
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
