import Crypto

/// AWS Signature Version 4 for S3: the `Authorization` header of a request (with
/// `x-amz-date` and `x-amz-content-sha256`, which S3 requires and libcurl's own SigV4 does not
/// send), and presigned `GET` URLs (query-string authentication) as botocore makes them. Pure: the
/// clock is the caller's; tests check both forms against botocore for fixed keys and time.
public struct S3Signer: Sendable {
    public let location: S3Location
    public let accessKeyID: String
    let secretAccessKey: String

    public init(location: S3Location, accessKeyID: String, secretAccessKey: String) {
        self.location = location
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// A body that is not hashed: the request is signed, its payload is not (TLS protects it).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// SigV4 allows a presigned URL at most seven days.
    public static let maximumExpiry = 604_800

    /// The headers to send with a request for `key` (`""` for the bucket): `Host` is set by the
    /// transport from the URL, so it is signed but not returned. `query` pairs are sorted and
    /// encoded here; `headers` (lower-case names) are signed as given.
    public func signedHeaders(method: String, key: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                              payloadHash: String = unsignedPayload, now: Double) -> [(name: String, value: String)] {
        let stamp = AmzDate(epochSeconds: now)
        let scope = "\(stamp.day)/\(location.region)/s3/aws4_request"
        var all = headers.map { ($0.0.lowercased(), $0.1.trimmingSpaces) }
        all += [("host", location.hostHeader), ("x-amz-content-sha256", payloadHash), ("x-amz-date", stamp.full)]
        all.sort { $0.0 < $1.0 }
        let names = all.map(\.0).joined(separator: ";")
        let canonicalRequest = [method, location.path(key: key), Self.canonicalQuery(query), all.map { "\($0.0):\($0.1)\n" }.joined(), names, payloadHash]
            .joined(separator: "\n")
        let signature = sign(canonicalRequest, stamp: stamp, scope: scope)
        return all.filter { $0.0 != "host" }.map { (name: $0.0, value: $0.1) }
            + [(name: "authorization", value: "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(names), Signature=\(signature)")]
    }

    /// The URL of a request: the object's path and its query, encoded as signed.
    public func url(key: String, query: [(String, String)] = []) -> String { location.url(key: key, query: Self.canonicalQuery(query)) }

    public func presignedGET(key: String, expires: Int, now: Double) -> String {
        let stamp = AmzDate(epochSeconds: now)
        let scope = "\(stamp.day)/\(location.region)/s3/aws4_request"
        let query = Self.canonicalQuery([
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(accessKeyID)/\(scope)"), ("X-Amz-Date", stamp.full),
            ("X-Amz-Expires", String(min(max(expires, 1), Self.maximumExpiry))), ("X-Amz-SignedHeaders", "host"),
        ])
        let canonicalRequest = ["GET", location.path(key: key), query, "host:\(location.hostHeader)", "", "host", Self.unsignedPayload]
            .joined(separator: "\n")
        return location.url(key: key, query: query + "&X-Amz-Signature=" + sign(canonicalRequest, stamp: stamp, scope: scope))
    }

    static func canonicalQuery(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(S3Location.encode($0.0))=\(S3Location.encode($0.1))" }.sorted().joined(separator: "&")
    }

    private func sign(_ canonicalRequest: String, stamp: AmzDate, scope: String) -> String {
        let stringToSign = ["AWS4-HMAC-SHA256", stamp.full, scope, Crypto.hex(Crypto.sha256(canonicalRequest))].joined(separator: "\n")
        return Crypto.hex(Crypto.hmacSHA256(key: signingKey(day: stamp.day), message: Array(stringToSign.utf8)))
    }

    /// `AWS4<secret>` → day → region → service → `aws4_request`.
    private func signingKey(day: String) -> [UInt8] {
        var key = Array("AWS4\(secretAccessKey)".utf8)
        for part in [day, location.region, "s3", "aws4_request"] { key = Crypto.hmacSHA256(key: key, message: Array(part.utf8)) }
        return key
    }
}

extension String {
    /// Leading and trailing spaces gone, inner runs of spaces made one (SigV4's header values).
    var trimmingSpaces: String { split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
}
