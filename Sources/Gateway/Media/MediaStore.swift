import Crypto
import Domain
import Foundation
import S3
import Synchronization

/// The base URL clients reach us at; known only once the listener is bound (port 0).
public final class PublicURL: Sendable {
    private let value: Mutex<String>
    public init(_ initial: String) { value = Mutex(initial) }
    public func set(_ url: String) { value.withLock { $0 = url.hasSuffix("/") ? String(url.dropLast()) : url } }
    public var current: String { value.withLock { $0 } }
}

/// Where results live on disk and how their URLs are signed (SPEC §5).
///
/// A media URL is `<publicURL>/v1/media/<videoUUID>.<ext>?exp=<unix seconds>&sig=<HMAC>`; the HMAC
/// covers the file name and expiry under a key generated once per data directory, so links keep
/// working across restarts and cannot be forged or extended.
public struct MediaStore: Sendable {
    /// The media directory: results with the local store, uploaded images, and the scratch files
    /// of fetches with either store.
    public let directory: String
    public let publicURL: PublicURL
    /// Signs and checks links; prepared once (links are signed on every poll of a finished task).
    private let signingKey: HMACKey
    /// The bucket results go to with `media.store: s3`; nil with the local store.
    let objects: ObjectMedia?

    init(directory: String, publicURL: PublicURL, key: [UInt8], objects: ObjectMedia? = nil) throws {
        self.directory = directory
        self.publicURL = publicURL
        self.signingKey = HMACKey(key)
        self.objects = objects
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// One spelling of a directory: absolute, without `.`, `..` or a trailing `/` (symbolic
    /// links are kept: they are a different path to the same place).
    static func standardized(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    public func path(videoUUID: String, ext: String) -> String { "\(directory)/\(videoUUID).\(ext)" }

    /// Whether a result's link is signed for the time it is made (a bucket's presigned link,
    /// capped at 7 days), rather than only for the result's expiry: such a link cannot be kept.
    var linksDependOnSigningTime: Bool { objects?.settings.presignedURLs == true }

    /// A local file with a stored result's bytes, to read it from disk: the file itself with the
    /// local store, or the object staged into `scratch` (a directory) with the s3 store, which the
    /// caller removes (`temporary`).
    func localCopy(ofStoredPath path: String, scratch: String) async throws -> (path: String, temporary: Bool) {
        guard let key = ObjectMedia.key(ofStoredPath: path) else { return (path, false) }
        guard let objects else { throw S3Error.notConfigured(key: key) }
        let staged = "\(scratch)/.stage-\(UUID().uuidString)"
        do {
            guard let size = try await objects.size(key: key) else { throw S3Error.missing(key: key, operation: "HeadObject") }
            _ = try await objects.stage(key: key, bytes: size, to: staged)
        } catch {
            try? FileManager.default.removeItem(atPath: staged)
            throw error
        }
        return (staged, true)
    }

    /// Removes the partial files fetches left when the process died, and the copies staged from
    /// an s3 store for replies and uploads; at start only, when no fetch is running (the data
    /// directory's lock makes this process the only one).
    public func removeLeftoverPartials() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(".") && (name.hasSuffix(".partial") || name.hasPrefix(".stage-") || name.hasPrefix(".image-")) {
            unlink("\(directory)/\(name)")
        }
        // An uploaded image being written durably (`DurableFile`).
        let images = "\(directory)/images"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: images)) ?? [] where name.hasPrefix(".") && name.hasSuffix(".partial") {
            unlink("\(images)/\(name)")
        }
    }

    /// A temporary path in the same directory, so the final rename is atomic; its own for each
    /// fetch, so a worker that took a task over never writes into the file of one still running.
    public func temporaryPath(videoUUID: String) -> String { "\(directory)/.\(videoUUID).\(uniqueSuffix()).partial" }

    /// The `videoURL` of a stored result: reelgate's own signed link, or with an s3 store and
    /// `presignedURLs` the bucket's presigned GET, valid as long.
    public func signedURL(videoUUID: String, ext: String, expiresAt: Int64) -> String {
        if let objects, objects.settings.presignedURLs {
            return objects.presignedURL(key: objects.key(file: "\(videoUUID).\(ext)"), seconds: max(1, Double(expiresAt) - Date().timeIntervalSince1970))
        }
        var out = Array(publicURL.current.utf8)
        appendSignedPath(videoUUID: videoUUID, ext: ext, expiresAt: expiresAt, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Both links to a result, signed once: the ops view shows the client's link and the
    /// console's path for every result.
    public func signedLinks(videoUUID: String, ext: String, expiresAt: Int64) -> (url: String, path: String) {
        let path = signedPath(videoUUID: videoUUID, ext: ext, expiresAt: expiresAt)
        if let objects, objects.settings.presignedURLs { return (signedURL(videoUUID: videoUUID, ext: ext, expiresAt: expiresAt), path) }
        return (publicURL.current + path, path)
    }

    /// Reelgate's own signed link as a path on this server, whatever the public URL or the store:
    /// what the console plays (same origin, so its `default-src 'self'` policy allows it).
    public func signedPath(videoUUID: String, ext: String, expiresAt: Int64) -> String {
        var out: [UInt8] = []
        appendSignedPath(videoUUID: videoUUID, ext: ext, expiresAt: expiresAt, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `/v1/media/<file>?exp=<expiry>&sig=<signature>`, written straight into `out`: links are
    /// signed on every poll of a finished task, and building them from interpolated strings was
    /// most of the cost of signing.
    private func appendSignedPath(videoUUID: String, ext: String, expiresAt: Int64, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 10 + videoUUID.utf8.count + ext.utf8.count + 30 + 48)
        out.append(contentsOf: "/v1/media/".utf8)
        let fileStart = out.count
        out.append(contentsOf: videoUUID.utf8)
        out.append(UInt8(ascii: "."))
        out.append(contentsOf: ext.utf8)
        let fileEnd = out.count
        out.append(contentsOf: "?exp=".utf8)
        let expiryStart = out.count
        out.append(contentsOf: String(expiresAt).utf8)
        let mac = signingKey.mac(Self.signedMessage(file: out[fileStart..<fileEnd], expiry: out[expiryStart...]))
        out.append(contentsOf: "&sig=".utf8)
        out.append(contentsOf: Base64URL.encode(mac).utf8)
    }

    /// What a link's signature covers: `<file>:<expiry>`.
    private static func signedMessage(file: ArraySlice<UInt8>, expiry: ArraySlice<UInt8>) -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(file.count + 1 + expiry.count)
        message.append(contentsOf: file)
        message.append(UInt8(ascii: ":"))
        message.append(contentsOf: expiry)
        return message
    }

    func signature(file: String, expiresAt: Int64) -> String {
        Base64URL.encode(signingKey.mac(Self.signedMessage(file: ArraySlice(file.utf8), expiry: ArraySlice(String(expiresAt).utf8))))
    }

    public enum Verdict: Equatable { case valid, expired, badSignature }

    public func verify(file: String, exp: String?, sig: String?, now: Double) -> Verdict {
        guard let exp, let expiresAt = Int64(exp), let sig else { return .badSignature }
        guard Crypto.constantTimeEquals(Array(signature(file: file, expiresAt: expiresAt).utf8), Array(sig.utf8)) else {
            return .badSignature
        }
        return Double(expiresAt) >= now ? .valid : .expired
    }
}
