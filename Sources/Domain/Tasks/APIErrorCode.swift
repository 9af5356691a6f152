/// A Runware-style error code and the HTTP status a response answers with when it is the first
/// error: decided here, once, and nowhere else (SPEC §2).
public struct APIErrorCode: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    /// The HTTP status code.
    public let status: Int

    private init(_ name: String, _ status: Int) {
        self.name = name
        self.status = status
    }

    public var description: String { name }

    // 400: the request is wrong.
    public static let invalidRequest = APIErrorCode("invalidRequest", 400)
    public static let invalidJSON = APIErrorCode("invalidJSON", 400)
    public static let invalidTask = APIErrorCode("invalidTask", 400)
    public static let unsupportedTaskType = APIErrorCode("unsupportedTaskType", 400)
    public static let unsupportedParameter = APIErrorCode("unsupportedParameter", 400)
    public static let incompatibleParameters = APIErrorCode("incompatibleParameters", 400)
    public static let unknownModel = APIErrorCode("unknownModel", 400)
    public static let invalidInput = APIErrorCode("invalidInput", 400)
    public static let invalidInputURL = APIErrorCode("invalidInputURL", 400)
    public static let invalidWebhookURL = APIErrorCode("invalidWebhookURL", 400)
    public static let invalidUploadEndpoint = APIErrorCode("invalidUploadEndpoint", 400)
    public static let imageNotFound = APIErrorCode("imageNotFound", 400)
    public static let videoNotFound = APIErrorCode("videoNotFound", 400)
    public static let tooManyTasks = APIErrorCode("tooManyTasks", 400)
    public static let tooManyImageUploads = APIErrorCode("tooManyImageUploads", 400)
    public static let responseTooLarge = APIErrorCode("responseTooLarge", 400)
    public static let contentPolicyViolation = APIErrorCode("contentPolicyViolation", 400)

    /// The code for a URL refused in `parameter` (SPEC §7 names them).
    public static func refusedURL(in parameter: String) -> APIErrorCode {
        switch parameter {
        case "webhookURL": .invalidWebhookURL
        case "uploadEndpoint": .invalidUploadEndpoint
        default: .invalidInputURL
        }
    }

    /// `invalid<Field>`: a field with a value outside its range (`invalidDuration`).
    public static func invalid(_ field: String) -> APIErrorCode { APIErrorCode("invalid" + capitalized(field), 400) }
    /// `missing<Field>`: a required field that is absent (`missingPositivePrompt`).
    public static func missing(_ field: String) -> APIErrorCode { APIErrorCode("missing" + capitalized(field), 400) }

    // 401, 403: who is asking.
    public static let missingApiKey = APIErrorCode("missingApiKey", 401)
    public static let invalidApiKey = APIErrorCode("invalidApiKey", 401)
    public static let forbidden = APIErrorCode("forbidden", 403)
    public static let invalidSignature = APIErrorCode("invalidSignature", 403)
    /// A console call that changes state without its session's CSRF token (SPEC §17).
    public static let invalidCsrfToken = APIErrorCode("invalidCsrfToken", 403)

    // 404, 409, 410: what it names.
    public static let taskNotFound = APIErrorCode("taskNotFound", 404)
    /// A video (its lineage, its media) that does not exist or is another key's.
    public static let unknownVideo = APIErrorCode("unknownVideo", 404)
    public static let conflictTaskUUID = APIErrorCode("conflictTaskUUID", 409)
    public static let taskCancelled = APIErrorCode("taskCancelled", 409)
    public static let mediaExpired = APIErrorCode("mediaExpired", 410)

    // 413, 429: how much.
    public static let requestTooLarge = APIErrorCode("requestTooLarge", 413)
    public static let rateLimitExceeded = APIErrorCode("rateLimitExceeded", 429)
    public static let tooManyTasksInFlight = APIErrorCode("tooManyTasksInFlight", 429)
    public static let providerRateLimited = APIErrorCode("providerRateLimited", 429)

    // 5xx: ours or the upstream's.
    public static let internalError = APIErrorCode("internalError", 500)
    public static let providerError = APIErrorCode("providerError", 502)
    public static let serviceUnavailable = APIErrorCode("serviceUnavailable", 503)
    public static let timeoutProvider = APIErrorCode("timeoutProvider", 504)
    public static let insufficientStorage = APIErrorCode("insufficientStorage", 507)

    /// The leaf of a parameter path, capitalised: `inputs.frameImages[0]` → `FrameImages`.
    static func capitalized(_ path: String) -> String {
        let leaf = path.split(separator: ".").last.map(String.init) ?? path
        let name = leaf.prefix { $0 != "[" }
        return name.prefix(1).uppercased() + name.dropFirst()
    }
}
