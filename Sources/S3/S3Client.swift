import Crypto
import Curl
import Foundation

/// The object-store operations reelgate needs, over libcurl, signed with ``S3Signer``: objects
/// are uploaded from files (one `PUT`, or a multipart upload whose parts are byte ranges of the
/// file, so memory never holds more than curl's buffers), read into files (whole or a range),
/// listed, and deleted.
///
/// Concurrency model: every method is `async` and runs one transfer on the ``CurlClient``'s
/// threads; nothing is shared between calls but the client.
public struct S3Client: Sendable {
    public let signer: S3Signer
    let curl: CurlClient
    let clock: @Sendable () -> Double
    /// Whether multipart parts carry their SHA-256 (``createMultipartUpload(key:contentType:)``).
    let partChecksums: Bool

    public init(signer: S3Signer, curl: CurlClient, partChecksums: Bool = true,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 })
    {
        self.signer = signer
        self.curl = curl
        self.partChecksums = partChecksums
        self.clock = clock
    }

    /// Creates the bucket (setup and tests; reelgate itself expects it to exist).
    public func createBucket() async throws {
        _ = try await send("PUT", key: "", operation: "CreateBucket")
    }

    /// One `PUT` of a whole file.
    public func putObject(key: String, file: String, contentType: String) async throws {
        _ = try await send("PUT", key: key, headers: [("content-type", contentType)], body: .file(path: file), operation: "PutObject")
    }

    /// A multipart upload whose parts carry their SHA-256 (`x-amz-checksum-sha256`), which the
    /// store checks on arrival: a part damaged on the way is refused, not assembled. Without an
    /// algorithm named here a store may checksum the whole object itself once complete (S3's
    /// CRC64NVME default); moto does that in Python, which took most of a 1 GiB upload.
    public func createMultipartUpload(key: String, contentType: String) async throws -> String {
        let response = try await send("POST", key: key, query: [("uploads", "")],
                                      headers: [("content-type", contentType)] + (partChecksums ? [("x-amz-checksum-algorithm", "SHA256")] : []),
                                      operation: "CreateMultipartUpload")
        guard let id = S3XML.value(of: "UploadId", in: response.body), !id.isEmpty else {
            throw S3Error(status: response.status, body: response.body, operation: "CreateMultipartUpload", key: key)
        }
        return id
    }

    /// One uploaded part, as its completion names it.
    public struct UploadedPart: Sendable, Equatable {
        public let etag: String
        /// Base64 of the part's SHA-256 (nil with `partChecksums` off).
        public let checksumSHA256: String?
        public init(etag: String, checksumSHA256: String?) {
            self.etag = etag
            self.checksumSHA256 = checksumSHA256
        }
    }

    /// One part: `length` bytes of `file` from `offset`, with its SHA-256 (read from the file
    /// first, off the cooperative pool); returns what the completion needs.
    public func uploadPart(key: String, uploadID: String, number: Int, file: String, offset: Int64, length: Int64) async throws -> UploadedPart {
        var checksum: String?
        if partChecksums { checksum = Data(try await Self.sha256(file: file, offset: offset, length: length, key: key)).base64EncodedString() }
        let response = try await send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                      headers: checksum.map { [("x-amz-checksum-sha256", $0)] } ?? [],
                                      body: .fileRange(path: file, offset: offset, length: length), operation: "UploadPart")
        guard let etag = response.header("etag") else {
            throw S3Error(status: response.status, body: response.body, operation: "UploadPart", key: key)
        }
        return UploadedPart(etag: etag, checksumSHA256: checksum)
    }

    /// The SHA-256 of `length` bytes of `file` from `offset`, read 1 MiB at a time on a Dispatch
    /// thread (a 16 MiB part is some milliseconds of reading and hashing).
    static func sha256(file: String, offset: Int64, length: Int64, key: String) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(with: Result { () throws(S3Error) -> [UInt8] in
                    let fd = open(file, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw S3Error.unreadablePart(key: key, errno: errno) }
                    defer { close(fd) }
                    let hash = IncrementalSHA256()
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                    defer { buffer.deallocate() }
                    var done: Int64 = 0
                    while done < length {
                        let n = pread(fd, buffer.baseAddress, Int(min(Int64(buffer.count), length - done)), off_t(offset + done))
                        if n < 0, errno == EINTR { continue }
                        guard n > 0 else { throw S3Error.unreadablePart(key: key, errno: n < 0 ? errno : 0) }
                        hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                        done += Int64(n)
                    }
                    return hash.finalize()
                })
            }
        }
    }

    /// Completes the upload from its parts in order. S3 may answer 200 and still fail (an
    /// `<Error>` body): that is an error here.
    public func completeMultipartUpload(key: String, uploadID: String, parts uploaded: [UploadedPart]) async throws {
        let parts = uploaded.enumerated().map {
            "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(S3XML.escape($0.element.etag))</ETag>"
                + ($0.element.checksumSHA256.map { "<ChecksumSHA256>\(S3XML.escape($0))</ChecksumSHA256>" } ?? "") + "</Part>"
        }
        let body = Array("<CompleteMultipartUpload>\(parts.joined())</CompleteMultipartUpload>".utf8)
        let response = try await send("POST", key: key, query: [("uploadId", uploadID)], headers: [("content-type", "application/xml")],
                                      body: .bytes(body), operation: "CompleteMultipartUpload")
        if S3XML.value(of: "Code", in: response.body) != nil {
            throw S3Error(status: 500, body: response.body, operation: "CompleteMultipartUpload", key: key)
        }
    }

    public func abortMultipartUpload(key: String, uploadID: String) async throws {
        do {
            _ = try await send("DELETE", key: key, query: [("uploadId", uploadID)], operation: "AbortMultipartUpload")
        } catch let error as S3Error where error.kind == .notFound {
            // Already gone: what aborting wanted.
        }
    }

    /// Unfinished multipart uploads under `prefix` (what a crash left), at most 1,000.
    public func listMultipartUploads(prefix: String) async throws -> [(key: String, uploadID: String, initiated: String)] {
        let response = try await send("GET", key: "", query: [("uploads", ""), ("prefix", prefix)], operation: "ListMultipartUploads")
        return S3XML.blocks("Upload", in: String(decoding: response.body, as: UTF8.self)).compactMap { block in
            guard let key = S3XML.values(of: "Key", in: block).first, let id = S3XML.values(of: "UploadId", in: block).first else { return nil }
            return (key, id, S3XML.values(of: "Initiated", in: block).first ?? "")
        }
    }

    /// The object's size, or nil when there is none.
    public func headObject(key: String) async throws -> Int64? {
        do {
            let response = try await send("HEAD", key: key, operation: "HeadObject")
            return response.header("content-length").flatMap { Int64($0) }
        } catch let error as S3Error where error.kind == .notFound {
            return nil
        }
    }

    /// The object (or `range`, e.g. `bytes=0-99`) into `file`, streamed, at most `maxBytes`.
    public func getObject(key: String, range: String? = nil, to file: String, maxBytes: Int64) async throws -> CurlResponse {
        try await send("GET", key: key, headers: range.map { [("range", $0)] } ?? [], sink: .successFile(path: file, maxBytes: maxBytes, status: range == nil ? 200 : 206),
                       operation: "GetObject")
    }

    /// As ``getObject(key:range:to:maxBytes:)``, with the body handed to `sink` as it arrives.
    public func getObject(key: String, range: String? = nil, into sink: any TransferSink, maxBytes: Int64) async throws -> CurlResponse {
        try await send("GET", key: key, headers: range.map { [("range", $0)] } ?? [], sink: .stream(sink, maxBytes: maxBytes, status: range == nil ? 200 : 206),
                       operation: "GetObject")
    }

    public func deleteObject(key: String) async throws {
        _ = try await send("DELETE", key: key, operation: "DeleteObject")
    }

    // MARK: Transport

    private func send(_ method: String, key: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                      body: CurlRequest.Body = .none, sink: CurlRequest.Sink = .memory(maxBytes: 1 << 20), operation: String) async throws
        -> CurlResponse
    {
        let signed = signer.signedHeaders(method: method, key: key, query: query, headers: headers, now: clock())
        let request = CurlRequest(
            method: method, url: signer.url(key: key, query: query), headers: signed, body: body, sink: sink,
            totalTimeout: nil, lowSpeed: (bytesPerSecond: 1024, seconds: 60))
        let response: CurlResponse
        do {
            response = try await curl.perform(request)
        } catch let error as CurlError {
            throw S3Error(transport: error, operation: operation, key: key)
        }
        guard (200...299).contains(response.status) else {
            // A file sink holds the error body instead of an object: the caller removes it.
            throw S3Error(status: response.status, body: response.body, operation: operation, key: key)
        }
        return response
    }
}
