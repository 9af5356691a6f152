/// `media.store` (SPEC §16.1): `"local"` (the default: files in the media directory) or an
/// S3-compatible object store, `{"type": "s3", "endpoint": …, "bucket": …}`. The endpoint is the
/// operator's, not a §7 URL: an internal MinIO is normal.
public enum MediaStoreSetting: Sendable, Equatable, Codable {
    case local
    case s3(ObjectStoreSettings)

    public var objectStore: ObjectStoreSettings? {
        if case .s3(let settings) = self { return settings }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            guard text == "local" else { throw ConfigurationError("media.store must be \"local\" or an object with \"type\": \"s3\"") }
            self = .local
            return
        }
        let settings = try ObjectStoreSettings(from: decoder)
        self = .s3(settings)
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .local:
            var c = encoder.singleValueContainer()
            try c.encode("local")
        case .s3(let settings):
            try settings.encode(to: encoder)
        }
    }
}

/// An S3-compatible bucket as the media store.
public struct ObjectStoreSettings: Sendable, Equatable, Codable {
    public var type = "s3"
    public var endpoint: String
    public var region = "us-east-1"
    public var bucket: String
    /// Prepended to every object key (`reelgate/`, say).
    public var prefix = ""
    public var accessKeyId: String?
    public var secretAccessKey: String?
    /// Path-style addressing; unset, on for an IP address or `localhost` endpoint.
    public var pathStyle: Bool?
    /// Results larger than this go up as a multipart upload in parts of this size (≥ 5 MiB,
    /// S3's smallest part).
    public var partBytes: Int64 = 16 << 20
    /// `videoURL` is an S3 presigned GET (valid for the task's ttl) instead of reelgate's own
    /// signed URL (which streams the object through reelgate).
    public var presignedURLs = false
    /// Multipart parts carry their SHA-256, which the store checks (on by default). Off for a
    /// store that refuses `x-amz-checksum-*` headers.
    public var partChecksums = true

    public init(endpoint: String, bucket: String) {
        self.endpoint = endpoint
        self.bucket = bucket
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.section(
            ["type", "endpoint", "region", "bucket", "prefix", "accessKeyId", "secretAccessKey", "pathStyle", "partBytes", "presignedURLs", "partChecksums"])
        let path = configurationPath(decoder.codingPath)
        guard try c.value("type", "") == "s3" else { throw ConfigurationError("configuration key \(path).type must be \"s3\"") }
        guard let endpoint = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "endpoint")),
            let bucket = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "bucket"))
        else { throw ConfigurationError("configuration key \(path): an s3 store needs endpoint and bucket") }
        self.init(endpoint: endpoint, bucket: bucket)
        region = try c.value("region", region)
        prefix = try c.value("prefix", prefix)
        accessKeyId = try c.value("accessKeyId", nil)
        secretAccessKey = try c.value("secretAccessKey", nil)
        pathStyle = try c.value("pathStyle", nil)
        partBytes = try c.value("partBytes", partBytes)
        presignedURLs = try c.value("presignedURLs", presignedURLs)
        partChecksums = try c.value("partChecksums", partChecksums)
    }

    /// S3's smallest part but the last.
    public static let minimumPartBytes: Int64 = 5 << 20
}
