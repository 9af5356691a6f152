import Foundation
import S3
import Testing

/// Presigned GETs equal botocore's `generate_presigned_url`, and signed requests botocore's
/// `S3SigV4Auth`, for fixed credentials and time (botocore 1.44.8's output, printed by
/// `Tests/support/s3-presign-vectors.py`).
struct S3SignerTests {
    static let fixedTime: Double = 1_796_387_445  // 2026-12-04T12:30:45Z
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    @Test(arguments: [
        ("http://127.0.0.1:9000", "us-east-1", false, "videos", "reelgate/01a2-b3.mp4", 3600,
         "http://127.0.0.1:9000/videos/reelgate/01a2-b3.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261204T123045Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=f5276e15472807c35220d74d4ff79c58673f4f2903c5602f9be013e2f1db1410"),
        ("https://s3.eu-central-1.amazonaws.com", "eu-central-1", false, "team-media", "prefix/with space/ünï+c=d&e.mp4", 86400,
         "https://team-media.s3.eu-central-1.amazonaws.com/prefix/with%20space/%C3%BCn%C3%AF%2Bc%3Dd%26e.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261204%2Feu-central-1%2Fs3%2Faws4_request&X-Amz-Date=20261204T123045Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=38520d88481227df09a344bee92aac9691124033ea6c75c51b0eda0f5bd61e83"),
        ("https://minio.internal:9443", "auto", true, "b", "a/b/c~d_e-f.g.webm", 604800,
         "https://minio.internal:9443/b/a/b/c~d_e-f.g.webm?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261204%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20261204T123045Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=0978a4466c2d03b23baa125c3f92967cab7387e3dd415b976723db5808c0ea7f"),
    ])
    func presignedGETEqualsBotocore(endpoint: String, region: String, pathStyle: Bool, bucket: String, key: String, expires: Int,
                                    expected: String) throws {
        // The IP endpoint is path style by default; the AWS one virtual-host; MinIO set explicitly.
        let location = try S3Location(endpoint: endpoint, region: region, bucket: bucket, pathStyle: pathStyle ? true : nil)
        let signer = S3Signer(location: location, accessKeyID: Self.accessKey, secretAccessKey: Self.secretKey)
        #expect(signer.presignedGET(key: key, expires: expires, now: Self.fixedTime) == expected)
    }

    @Test(arguments: [
        ("PUT", "http://127.0.0.1:9000", "us-east-1", "reelgate/01a2-b3.mp4", [(String, String)](), [("content-type", "video/mp4")],
         "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=a6ac3c2a7b4f9b9a690eb9ed805c943a938061c99c5da7360c859ec3f5df9e2d"),
        ("POST", "http://127.0.0.1:9000", "us-east-1", "big file.mp4", [("uploads", "")], [],
         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=c2c25b50ef15182a1b305de9d624829c53c3c30ce360e58a7069dd4e706ccf07"),
        ("PUT", "http://127.0.0.1:9000", "us-east-1", "big file.mp4", [("partNumber", "2"), ("uploadId", "abc/def")], [],
         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=9b883fb63c7b55f33f8748ffd10990fb8bde9740924874a347b1585c11d9d5b9"),
        ("GET", "https://s3.eu-central-1.amazonaws.com", "eu-central-1", "k.mp4", [], [("range", "bytes=0-99")],
         "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=28cd23e8d74745e5fcea900d6e76d2dca7b0a147f00338b2164bc13c2fe33c1b"),
    ])
    func signedRequestEqualsBotocore(method: String, endpoint: String, region: String, key: String, query: [(String, String)],
                                     headers: [(String, String)], expected: String) throws {
        let bucket = endpoint.contains("amazonaws") ? "team-media" : "videos"
        let signer = S3Signer(location: try S3Location(endpoint: endpoint, region: region, bucket: bucket), accessKeyID: Self.accessKey,
                              secretAccessKey: Self.secretKey)
        // botocore signs these (empty) bodies' hash; reelgate sends UNSIGNED-PAYLOAD the same way.
        let emptyBody = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let signed = signer.signedHeaders(method: method, key: key, query: query, headers: headers, payloadHash: emptyBody, now: Self.fixedTime)
        let authorization = try #require(signed.first { $0.name == "authorization" }?.value)
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/\(region)/s3/aws4_request, " + expected)
        #expect(signed.contains { $0.name == "x-amz-content-sha256" && $0.value == emptyBody })
        #expect(signed.contains { $0.name == "x-amz-date" && $0.value == "20261204T123045Z" })
        #expect(!signed.contains { $0.name == "host" }, "curl sends Host from the URL")
    }

    @Test func addressing() throws {
        #expect(try S3Location(endpoint: "http://127.0.0.1:5000", region: "us-east-1", bucket: "b").pathStyle)
        #expect(try S3Location(endpoint: "http://localhost:5000/", region: "us-east-1", bucket: "b").pathStyle)
        #expect(try !S3Location(endpoint: "https://s3.amazonaws.com", region: "us-east-1", bucket: "b").pathStyle)
        #expect(try S3Location(endpoint: "https://s3.amazonaws.com:443", region: "us-east-1", bucket: "b").hostHeader == "b.s3.amazonaws.com")
        #expect(try S3Location(endpoint: "http://[::1]:9000", region: "r", bucket: "b").url(key: "k") == "http://[::1]:9000/b/k")
        for bad in ["ftp://x", "https://user:pw@host", "https://host/path", "https://host:99999", "host"] {
            #expect(throws: S3Location.Invalid.self) { try S3Location(endpoint: bad, region: "r", bucket: "b") }
        }
        #expect(throws: S3Location.Invalid.self) { try S3Location(endpoint: "https://h", region: "r", bucket: "no/slash") }
    }
}
