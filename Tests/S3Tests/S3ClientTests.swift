import Crypto
import Curl
import Foundation
import S3
import TestSupport
import Testing

let testS3Endpoint = ProcessInfo.processInfo.environment["REELGATE_TEST_S3_ENDPOINT"]

/// The client against a real S3 implementation (moto's server, started by `make test` through
/// `Tests/support/with-moto.sh`), with objects checked by boto3 as well as read back.
@Suite(.enabled(if: testS3Endpoint != nil, "needs REELGATE_TEST_S3_ENDPOINT (make test starts moto)"))
struct S3ClientTests {
    static let endpoint = testS3Endpoint
    static let python = ProcessInfo.processInfo.environment["REELGATE_TEST_S3_PYTHON"] ?? "python3"

    /// Runs `body` with a client for a fresh bucket and a temporary directory, both gone after.
    static func withBucket(_ body: (S3Client, String, TempDirectory) async throws -> Void) async throws {
        let curl = CurlClient(threads: 2)
        defer { curl.shutdown() }
        let dir = TempDirectory()
        defer { dir.remove() }
        let (s3, bucket) = try await client(curl)
        try await body(s3, bucket, dir)
    }

    /// A fresh bucket (made with boto3) and a client for it.
    static func client(_ curl: CurlClient) async throws -> (S3Client, String) {
        let bucket = "t-" + UUID().uuidString.lowercased().prefix(12)
        _ = try await boto3("c.create_bucket(Bucket='\(bucket)')")
        let location = try S3Location(endpoint: endpoint!, region: "us-east-1", bucket: bucket)
        return (S3Client(signer: S3Signer(location: location, accessKeyID: "testing", secretAccessKey: "testing"), curl: curl), bucket)
    }

    /// Runs `statement` with a boto3 client `c` and returns what it prints.
    static func boto3(_ statement: String) async throws -> String {
        try await OffPool.run { try boto3Blocking(statement) }
    }

    private static func boto3Blocking(_ statement: String) throws -> String {
        let script = """
            import boto3
            c = boto3.client('s3', endpoint_url='\(endpoint!)', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')
            \(statement)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ProcessError("boto3 failed: \(statement)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func file(_ dir: TempDirectory, _ name: String, bytes count: Int) throws -> (String, [UInt8]) {
        let bytes = TestBytes.pattern(count)  // a prime-length block repeated: no part boundary falls on a repeat
        let path = dir.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }

    /// The test data's block never repeats within itself at a power-of-two stride (a piece
    /// duplicated or swapped at a buffer or part boundary would otherwise go unseen).
    @Test func testDataHasNoShortPeriod() {
        let block = TestBytes.block
        for stride in [1, 2, 4, 8, 256, 4096, 8192, 32_768] {
            #expect(block[0..<1024] != block[stride..<(stride + 1024)], "repeats every \(stride) bytes")
        }
    }

    @Test func putHeadGetRangeDelete() async throws {
        try await Self.withBucket { s3, bucket, dir in
            let (path, bytes) = try Self.file(dir, "small.mp4", bytes: 300_000)
            let key = "reelgate/with space/ünï+c.mp4"
            try await s3.putObject(key: key, file: path, contentType: "video/mp4")
            #expect(try await s3.headObject(key: key) == 300_000)
            #expect(try await Self.boto3("h = c.head_object(Bucket='\(bucket)', Key='\(key)'); print(h['ContentLength'], h['ContentType'])") == "300000 video/mp4")

            let whole = dir.file("whole")
            _ = try await s3.getObject(key: key, to: whole, maxBytes: 1 << 20)
            #expect(try Data(contentsOf: URL(fileURLWithPath: whole)) == Data(bytes))
            let part = dir.file("part")
            let ranged = try await s3.getObject(key: key, range: "bytes=1000-1099", to: part, maxBytes: 1 << 20)
            #expect(ranged.status == 206 && ranged.header("content-range") == "bytes 1000-1099/300000")
            #expect(try Data(contentsOf: URL(fileURLWithPath: part)) == Data(bytes[1000...1099]))

            try await s3.deleteObject(key: key)
            #expect(try await s3.headObject(key: key) == nil)
            let missing = await #expect(throws: S3Error.self) { try await s3.getObject(key: key, to: dir.file("none"), maxBytes: 1 << 20) }
            #expect(missing?.kind == .notFound)
        }
    }

    /// 11 MiB in three parts (5, 5, 1 MiB) from byte ranges of one file: one object, three parts
    /// as boto3 sees it (its ETag ends in `-3`), the same bytes.
    @Test func multipartUploadFromFileRanges() async throws {
        try await Self.withBucket { s3, bucket, dir in
            let size = 11 << 20, partSize = 5 << 20
            let (path, bytes) = try Self.file(dir, "big.mp4", bytes: size)
            let id = try await s3.createMultipartUpload(key: "big.mp4", contentType: "video/mp4")
            var parts: [S3Client.UploadedPart] = []
            var digests: [UInt8] = []
            for (index, offset) in stride(from: 0, to: size, by: partSize).enumerated() {
                let length = min(partSize, size - offset)
                parts.append(try await s3.uploadPart(key: "big.mp4", uploadID: id, number: index + 1, file: path, offset: Int64(offset),
                                                     length: Int64(length)))
                let digest = Crypto.sha256(Array(bytes[offset..<(offset + length)]))
                #expect(parts.last?.checksumSHA256 == Data(digest).base64EncodedString())
                digests += digest
        }
        try await s3.completeMultipartUpload(key: "big.mp4", uploadID: id, parts: parts)
        let seen = try await Self.boto3("h = c.head_object(Bucket='\(bucket)', Key='big.mp4'); print(h['ContentLength'], h['ContentType'], h['ETag'])")
        #expect(seen.hasPrefix("\(size) video/mp4 ") && seen.hasSuffix("-3\""), "\(seen)")
        // The store took the parts' SHA-256: the object's checksum is the composite of them.
        let checksum = try await Self.boto3("print(c.head_object(Bucket='\(bucket)', Key='big.mp4', ChecksumMode='ENABLED').get('ChecksumSHA256'))")
        // (S3 appends the part count, `-3`; moto does not.)
        #expect(checksum.split(separator: "-").first.map(String.init) == Data(Crypto.sha256(digests)).base64EncodedString())

        // With part checksums off (a store that refuses the headers), the same upload without them.
        let plain = S3Client(signer: s3.signer, curl: CurlClient(threads: 1), partChecksums: false)
        let plainID = try await plain.createMultipartUpload(key: "plain.mp4", contentType: "video/mp4")
        let plainPart = try await plain.uploadPart(key: "plain.mp4", uploadID: plainID, number: 1, file: path, offset: 0, length: Int64(size))
        #expect(plainPart.checksumSHA256 == nil)
        try await plain.completeMultipartUpload(key: "plain.mp4", uploadID: plainID, parts: [plainPart])
        #expect(try await Self.boto3("print(c.head_object(Bucket='\(bucket)', Key='plain.mp4', ChecksumMode='ENABLED').get('ChecksumSHA256'))") == "None")
        #expect(try await s3.headObject(key: "plain.mp4") == Int64(size))
        let back = dir.file("back")
        _ = try await s3.getObject(key: "big.mp4", to: back, maxBytes: 1 << 30)
        #expect(Crypto.sha256(Array(try Data(contentsOf: URL(fileURLWithPath: back)))) == Crypto.sha256(bytes))
        #expect(try await s3.listMultipartUploads(prefix: "").isEmpty)
        }
    }

    /// An upload left unfinished is listed, and aborting it leaves nothing behind.
    @Test func anUnfinishedMultipartUploadIsListedAndAborted() async throws {
        try await Self.withBucket { s3, bucket, dir in
            let (path, _) = try Self.file(dir, "part.mp4", bytes: 5 << 20)
            let id = try await s3.createMultipartUpload(key: "prefix/orphan.mp4", contentType: "video/mp4")
            _ = try await s3.uploadPart(key: "prefix/orphan.mp4", uploadID: id, number: 1, file: path, offset: 0, length: 5 << 20)
            let listed = try await s3.listMultipartUploads(prefix: "prefix/")
            #expect(listed.map(\.key) == ["prefix/orphan.mp4"] && listed.map(\.uploadID) == [id])
            try await s3.abortMultipartUpload(key: "prefix/orphan.mp4", uploadID: id)
            try await s3.abortMultipartUpload(key: "prefix/orphan.mp4", uploadID: id)  // twice is fine
            #expect(try await s3.listMultipartUploads(prefix: "prefix/").isEmpty)
            #expect(try await Self.boto3("print(len(c.list_multipart_uploads(Bucket='\(bucket)').get('Uploads', [])))") == "0")
            #expect(try await s3.headObject(key: "prefix/orphan.mp4") == nil)
        }
    }
}
