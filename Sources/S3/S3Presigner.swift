import Crypto
import HTTP1

/// AWS Signature Version 4 for query-string authentication: a presigned `GET` of one object,
/// valid for `expires` seconds from `now`, as botocore's `generate_presigned_url` makes it (a test
/// checks equality for fixed keys and time). Pure; the clock is the caller's.
public struct S3Presigner: Sendable {
    public let location: S3Location
    public let accessKeyID: String
    let secretAccessKey: String

    public init(location: S3Location, accessKeyID: String, secretAccessKey: String) {
        self.location = location
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// SigV4 allows at most seven days.
    public static let maximumExpiry = 604_800

    public func presignedGET(key: String, expires: Int, now: Double) -> String {
        let stamp = AmzDate(epochSeconds: now)
        let scope = "\(stamp.day)/\(location.region)/s3/aws4_request"
        let query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(accessKeyID)/\(scope)"),
            ("X-Amz-Date", stamp.full),
            ("X-Amz-Expires", String(min(max(expires, 1), Self.maximumExpiry))),
            ("X-Amz-SignedHeaders", "host"),
        ].map { "\(S3Location.encode($0.0))=\(S3Location.encode($0.1))" }.sorted().joined(separator: "&")
        let canonicalRequest = ["GET", location.path(key: key), query, "host:\(location.hostHeader)", "", "host", "UNSIGNED-PAYLOAD"]
            .joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", stamp.full, scope, Crypto.hex(Crypto.sha256(canonicalRequest))].joined(separator: "\n")
        let signature = Crypto.hex(Crypto.hmacSHA256(key: signingKey(day: stamp.day), message: Array(stringToSign.utf8)))
        return location.url(key: key, query: query + "&X-Amz-Signature=" + signature)
    }

    /// `AWS4<secret>` → day → region → service → `aws4_request`.
    func signingKey(day: String) -> [UInt8] {
        var key = Array("AWS4\(secretAccessKey)".utf8)
        for part in [day, location.region, "s3", "aws4_request"] { key = Crypto.hmacSHA256(key: key, message: Array(part.utf8)) }
        return key
    }
}

/// `20261204T123045Z` and `20261204`, in UTC, from seconds since 1970.
struct AmzDate {
    let full: String
    let day: String

    init(epochSeconds: Double) {
        let seconds = Int64(epochSeconds.rounded(.down))
        let secondOfDay = Int((seconds % 86_400 + 86_400) % 86_400)
        let (y, m, d) = HTTPDate.civil(fromDays: (seconds - Int64(secondOfDay)) / 86_400)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        day = "\(y)\(two(m))\(two(d))"
        full = "\(day)T\(two(secondOfDay / 3600))\(two(secondOfDay % 3600 / 60))\(two(secondOfDay % 60))Z"
    }
}
