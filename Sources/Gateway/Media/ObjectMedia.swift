import Curl
import Domain
import Foundation
import S3
import Synchronization

/// Results kept in an S3-compatible bucket (`media.store: s3`, SPEC §16.1) instead of the media
/// directory. A fetched video is uploaded from its local file (one `PUT`, or a multipart upload
/// of `partBytes` parts sent a few at a time, aborted on failure) and only then counts as stored;
/// its stored path is `s3:<key>`. Reading it back (to serve, deliver or edit) stages the object,
/// or the range asked for, in a local file: memory never holds a video.
///
/// Concurrency model: stateless apart from the client; every call is `async` on the curl threads.
struct ObjectMedia: Sendable {
    let client: S3Client
    let settings: ObjectStoreSettings
    /// Bytes being staged at once, across every reader: each copy takes local disk until it is
    /// sent, so many parallel GETs of a large video cannot fill the disk; past the budget a reader
    /// is told to retry (one copy is always allowed, however large).
    let staging = StagingBudget(bytes: 4 << 30)

    static let pathPrefix = "s3:"

    init(settings: ObjectStoreSettings, curl: CurlClient) throws {
        let location = try S3Location(endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket, pathStyle: settings.pathStyle)
        let signer = S3Signer(location: location, accessKeyID: settings.accessKeyId ?? "", secretAccessKey: settings.secretAccessKey ?? "")
        client = S3Client(signer: signer, curl: curl, partChecksums: settings.partChecksums)
        self.settings = settings
    }

    /// The object key of a media file name (`<videoUUID>.mp4`).
    func key(file: String) -> String { settings.prefix + file }

    /// Whether `key` is one reelgate writes (`<prefix><videoUUID>.<ext>`, `<prefix>images/<uuid>`):
    /// a bucket may be shared with other writers, whose uploads are none of our business.
    func isReelgateKey(_ key: String) -> Bool {
        guard key.hasPrefix(settings.prefix) else { return false }
        let name = key.dropFirst(settings.prefix.count)
        if name.hasPrefix("images/") { return VideoInferenceValidator.isUUID(String(name.dropFirst(7))) }
        let parts = name.split(separator: ".")
        return parts.count == 2 && VideoInferenceValidator.isUUID(String(parts[0])) && !parts[1].isEmpty && parts[1].allSatisfy { $0.isLetter || $0.isNumber }
    }

    /// The stored path of a key, and the key of a stored path (nil for a local path).
    static func storedPath(key: String) -> String { pathPrefix + key }
    static func key(ofStoredPath path: String) -> String? { path.hasPrefix(pathPrefix) ? String(path.dropFirst(pathPrefix.count)) : nil }

    /// Uploads `file` as `key`; returns once the object is complete in the bucket.
    func upload(file: String, key: String, contentType: String) async throws {
        guard let size = fileSize(atPath: file) else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: file]) }
        guard size > settings.partBytes else {
            try await client.putObject(key: key, file: file, contentType: contentType)
            return
        }
        let uploadID = try await client.createMultipartUpload(key: key, contentType: contentType)
        do {
            let ranges = stride(from: Int64(0), to: size, by: Int(settings.partBytes)).map { ($0, min(settings.partBytes, size - $0)) }
            var parts = [S3Client.UploadedPart?](repeating: nil, count: ranges.count)
            // A few parts at a time: within the transfer threads, never all of a large file at once.
            try await withThrowingTaskGroup(of: (Int, S3Client.UploadedPart).self) { group in
                var next = 0
                func addPart() {
                    let index = next, (offset, length) = ranges[index]
                    next += 1
                    group.addTask {
                        (index, try await client.uploadPart(key: key, uploadID: uploadID, number: index + 1, file: file, offset: offset, length: length))
                    }
                }
                for _ in 0..<min(3, ranges.count) { addPart() }
                while let (index, part) = try await group.next() {
                    parts[index] = part
                    if next < ranges.count { addPart() }
                }
            }
            try await client.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts.compactMap { $0 })
        } catch {
            // Also when this task was cancelled (shutdown, a lost lease): the abort runs in a task of
            // its own, which that cancellation does not reach.
            let client = self.client
            await Task.detached { try? await client.abortMultipartUpload(key: key, uploadID: uploadID) }.value
            throw error
        }
    }

    /// The object, or `range` of it (`bytes=…`), in the local file `to`; the response carries its
    /// status, length and `Content-Range`.
    /// `bytes` is what the copy will take (the range's length, or the object's size); `reserved`
    /// when the caller already took it from the staging budget (it is given back here either way).
    func stage(key: String, range: String? = nil, bytes: Int64, to path: String, reserved: Bool = false) async throws -> CurlResponse {
        guard reserved || staging.acquire(bytes) else { throw S3Error.busy(key: key) }
        defer { staging.release(bytes) }
        return try await checkedRange(range, key: key, try await client.getObject(key: key, range: range, to: path, maxBytes: 1 << 40))
    }

    /// As ``stage(key:range:bytes:to:reserved:)``, with the bytes handed to `sink` as they arrive.
    /// The caller holds the staging budget for what a ``RelayedObject`` may spill to disk, and
    /// gives it back when the response is over (the spill file outlives the transfer).
    func relay(key: String, range: String? = nil, into sink: any TransferSink) async throws -> CurlResponse {
        try await checkedRange(range, key: key, try await client.getObject(key: key, range: range, into: sink, maxBytes: 1 << 40))
    }

    /// A store that ignored the Range would have us serve bytes from offset 0 as the range.
    private func checkedRange(_ range: String?, key: String, _ response: CurlResponse) throws -> CurlResponse {
        if range != nil, response.status != 206 { throw S3Error.ignoredRange(key: key, status: response.status) }
        return response
    }

    func size(key: String) async throws -> Int64? { try await client.headObject(key: key) }

    func delete(key: String) async throws {
        do {
            try await client.deleteObject(key: key)
        } catch let error as S3Error where error.kind == .notFound {
            // Gone already.
        }
    }

    /// A presigned GET of the object, valid for `seconds` (at most SigV4's seven days).
    func presignedURL(key: String, seconds: Double) -> String {
        client.signer.presignedGET(key: key, expires: Int(seconds.rounded(.up)), now: Date().timeIntervalSince1970)
    }

    /// Aborts multipart uploads under the prefix begun before `cutoff` (seconds since 1970), or
    /// every one when there is none: what a crashed upload left. Returns how many.
    func abortUploads(initiatedBefore cutoff: Double?) async throws -> Int {
        let iso = cutoff.map { AmzDate(epochSeconds: $0).iso }  // compared as text: 2026-12-04T12:30:45…
        let stale = try await client.listMultipartUploads(prefix: settings.prefix)
            .filter { isReelgateKey($0.key) && (iso == nil || String($0.initiated.prefix(19)) < iso!) }
        for upload in stale { try await client.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID) }
        return stale.count
    }
}

/// A budget of bytes, taken without waiting.
final class StagingBudget: Sendable {
    private let used = Mutex<Int64>(0)
    let bytes: Int64
    init(bytes: Int64) { self.bytes = bytes }

    /// Takes `count` bytes if they fit, or if nothing is taken (one copy always may go).
    func acquire(_ count: Int64) -> Bool {
        used.withLock {
            guard $0 == 0 || $0 + count <= bytes else { return false }
            $0 += count
            return true
        }
    }

    func release(_ count: Int64) { used.withLock { $0 -= count } }
}
