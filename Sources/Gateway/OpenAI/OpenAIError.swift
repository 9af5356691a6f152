import Domain
import HTTP1
import HTTPServer

/// An error of the OpenAI-compatible API (SPEC §18), rendered in OpenAI's shape
/// `{"error": {"message", "type", "param", "code"}}` with OpenAI's statuses, so the `openai`
/// SDK raises its own classes (`BadRequestError`, `AuthenticationError`, `NotFoundError` …).
struct OpenAIError: HTTPResponseError, Equatable {
    var status: Int
    var message: String
    var param: String?
    var code: String?
    var retryAfter: Int?
    /// Sent as `x-should-retry: false` when false: the SDK retries 5xx, 408, 409 and 429 by
    /// itself, which must not happen where a retry could make a second video.
    var shouldRetry: Bool?

    init(status: Int, _ message: String, param: String? = nil, code: String? = nil, retryAfter: Int? = nil, shouldRetry: Bool? = nil) {
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
        self.shouldRetry = shouldRetry
    }

    /// Whether the request may have been stored even so (then its resources stay).
    var accepted: Bool { shouldRetry == false }

    static func badRequest(_ message: String, param: String?, code: String? = "invalid_value") -> OpenAIError {
        OpenAIError(status: 400, message, param: param, code: code)
    }

    static func notFound(_ id: String) -> OpenAIError {
        OpenAIError(status: 404, "no video \(APIErrorItem.echo(id)) (videos made through the Runware API are not listed here)", param: "video_id",
                    code: "not_found")
    }

    static let missingKey = OpenAIError(status: 401, "an API key is required: Authorization: Bearer <key>", code: "missing_api_key")
    static let invalidKey = OpenAIError(status: 401, "the API key is not valid", code: "invalid_api_key")

    /// OpenAI's `type` for a status.
    var type: String {
        switch status {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "invalid_request_error"
        case 429: "rate_limit_error"
        case 500...: "server_error"
        default: "invalid_request_error"
        }
    }

    /// A task API error as this API says it: the same status and message, its code in OpenAI's
    /// snake case, its parameter named as this API names it.
    init(_ item: APIErrorItem, parameters: [String: String] = [:]) {
        let parameter: String? = switch item.parameter {
        case .one(let name)?: name
        case .many(let names)?: names.first
        case nil: nil
        }
        let mapped = parameter.map { name in
            parameters[name] ?? parameters.first { name.hasPrefix($0.key + ".") || name.hasPrefix($0.key + "[") }?.value ?? name
        }
        self.init(status: item.code.status, item.message, param: mapped, code: Self.snakeCase(item.code.name))
    }

    init(_ error: APIError, parameters: [String: String] = [:]) {
        self.init(error.items.first ?? APIErrorItem(code: .internalError, message: "the request failed"), parameters: parameters)
        retryAfter = error.retryAfter
    }

    static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }

    var response: HTTPResponse {
        let body: JSONValue = ["error": [
            "message": .string(message), "type": .string(type), "param": param.map { .string($0) } ?? .null,
            "code": code.map { .string($0) } ?? .null,
        ]]
        var response = HTTPResponse.jsonBytes(body.serializedBytes(), status: HTTPStatus(status))
        if let retryAfter {
            response.headers.add(name: "Retry-After", value: String(retryAfter))
        } else if status == 429 || status == 503 {
            response.headers.add(name: "Retry-After", value: "1")
        }
        if let shouldRetry { response.headers.add(name: "x-should-retry", value: shouldRetry ? "true" : "false") }
        return response
    }
}
