import Domain
import Store
import HTTP1
import HTTPServer

/// An error a handler throws, rendered once by the router in the Runware shape
/// `{"errors":[{code, message, …}]}` (SPEC §2), with its first code's status.
struct APIError: HTTPResponseError {
    var items: [APIErrorItem]
    /// Seconds for `Retry-After`; 429 and 503 always carry one (1 s unless said).
    var retryAfter: Int?

    init(_ code: APIErrorCode, _ message: String, parameter: APIErrorItem.Parameter? = nil, retryAfter: Int? = nil) {
        items = [APIErrorItem(code: code, message: message, parameter: parameter)]
        self.retryAfter = retryAfter
    }

    init(items: [APIErrorItem]) {
        self.items = items
    }

    var response: HTTPResponse {
        var body = Array("{\"errors\":".utf8)
        JSONValue.array(items.map(\.json)).write(to: &body)
        body.append(UInt8(ascii: "}"))
        let status = HTTPStatus(items.first?.status ?? 500)
        var response = HTTPResponse.jsonBytes(body, status: status)
        if let retryAfter {
            response.headers.add(name: "Retry-After", value: String(retryAfter))
        } else if status.code == 429 || status.code == 503 {
            response.headers.add(name: "Retry-After", value: "1")
        }
        return response
    }

    /// The server's own errors (a malformed request, a timeout, no route), whose status the HTTP
    /// layer decided, in the same shape.
    static let renderServerError: ErrorRenderer = { status, code, message in
        let body = "{\"errors\":[{\"code\":\(JSONText.quote(code)),\"message\":\(JSONText.quote(message))}]}"
        var response = HTTPResponse.jsonBytes(Array(body.utf8), status: status)
        if status.code == 503 || status.code == 429 { response.headers.set(name: "Retry-After", value: "1") }
        return response
    }

    static let missingKey = APIError(.missingApiKey, "Authorization: Bearer <key> is required")
    static let invalidKey = APIError(.invalidApiKey, "the API key is not valid")
}
