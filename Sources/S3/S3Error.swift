import Curl

/// What went wrong talking to the object store, classified the way upstream errors are: a
/// retryable one (the store's 5xx, `SlowDown`, throttling, a network failure) is tried again
/// later; a missing object is `notFound`, so callers answer 404/410, never 500.
public struct S3Error: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case notFound, denied, retryable, failed
    }

    public let kind: Kind
    /// HTTP status, 0 for a transport failure.
    public let status: Int
    /// S3's error `Code` (`NoSuchKey`, `SlowDown`, …), if the body had one.
    public let code: String?
    public let operation: String
    public let key: String

    public var isRetryable: Bool { kind == .retryable }

    public var description: String {
        "S3 \(operation) of \(key.isEmpty ? "the bucket" : key): \(status == 0 ? "transport error" : "HTTP \(status)")\(code.map { " \($0)" } ?? "")"
    }

    init(status: Int, body: [UInt8], operation: String, key: String) {
        self.status = status
        self.operation = operation
        self.key = key
        let code = S3XML.value(of: "Code", in: body)
        self.code = code
        kind = switch (status, code) {
        case (404, _), (_, "NoSuchKey"), (_, "NoSuchUpload"): .notFound
        case (403, _), (401, _): .denied
        case (429, _), (500...599, _), (_, "SlowDown"), (_, "RequestTimeout"), (_, "InternalError"): .retryable
        default: .failed
        }
    }

    /// No such object (a HEAD that found nothing).
    public static func missing(key: String, operation: String) -> S3Error {
        S3Error(kind: .notFound, status: 404, code: nil, operation: operation, key: key)
    }

    /// Too many objects are being staged on this instance right now: retry later.
    public static func busy(key: String) -> S3Error { S3Error(kind: .retryable, status: 503, code: "StagingBusy", operation: "GetObject", key: key) }

    /// A ranged GET answered with something other than 206 Partial Content.
    public static func ignoredRange(key: String, status: Int) -> S3Error {
        S3Error(kind: .failed, status: status, code: "RangeIgnored", operation: "GetObject", key: key)
    }

    /// The local file a part is uploaded from could not be read (to checksum it).
    public static func unreadablePart(key: String, errno: Int32) -> S3Error {
        S3Error(kind: .failed, status: 0, code: "LocalFileUnreadable(errno \(errno))", operation: "UploadPart", key: key)
    }

    /// A stored path names an object, but this gateway has no object store configured.
    public static func notConfigured(key: String) -> S3Error {
        S3Error(kind: .failed, status: 0, code: "NotConfigured", operation: "GetObject", key: key)
    }

    init(kind: Kind, status: Int, code: String?, operation: String, key: String) {
        self.kind = kind
        self.status = status
        self.code = code
        self.operation = operation
        self.key = key
    }

    init(transport error: CurlError, operation: String, key: String) {
        status = 0
        code = error.kind.rawValue
        self.operation = operation
        self.key = key
        kind = error.isRetryable ? .retryable : .failed
    }
}
