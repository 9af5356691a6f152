import HTTP1
import HTTPServer

/// Errors in the Runware error shape: `{"errors":[{code, message, …}]}` (SPEC §2).
enum APIError {
    static func response(status: HTTPStatus, code: String, message: String) -> HTTPResponse {
        let body = "{\"errors\":[{\"code\":\(JSONText.quote(code)),\"message\":\(JSONText.quote(message))}]}"
        var response = HTTPResponse.jsonBytes(Array(body.utf8), status: status)
        if status.code == 503 || status.code == 429 { response.headers.add(name: "Retry-After", value: "1") }
        return response
    }
}
