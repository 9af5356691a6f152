import Curl
import Domain
import Store
import Foundation
import S3

/// Turns a task's image and video inputs into local files an adapter can send (SPEC §8, §7).
///
/// URLs are fetched through the URL guard (every address public, the connection pinned to the
/// checked one, no redirects), capped in size and checked by content, not by what the URL or
/// the server claims; uploaded images and earlier results are read from the data directory.
struct InputFetcher: Sendable {
    struct LocalInput: Sendable {
        let path: String
        let mimeType: String
        let bytes: Int64
        /// True when the file was made for this job and should be removed after use.
        let temporary: Bool
    }

    let store: any TaskStore
    let media: MediaStore
    let urlGuard: URLGuard
    let curl: CurlClient
    let scratch: String
    static let maxImageBytes: Int64 = 20 * 1024 * 1024
    static let maxVideoBytes: Int64 = 2 << 30

    /// An image input as a local file; an uploaded image only if `owner` may read it (another
    /// key's image is reported exactly like a missing one).
    func image(_ input: VideoInferenceRequest.ImageInput, owner: MediaOwner) async throws(ProviderError) -> LocalInput {
        switch input {
        case .uploaded(let uuid):
            guard let image = try? await store.image(uuid), owner.mayRead(mediaOf: image.keyName) else {
                throw invalid("uploaded image \(uuid) does not exist (or has expired)")
            }
            let copy: (path: String, temporary: Bool)
            do {
                copy = try await media.localCopy(ofStoredPath: image.path, scratch: scratch)
            } catch let error as S3Error where error.kind == .notFound {
                throw invalid("uploaded image \(uuid) does not exist (or has expired)")
            } catch {
                throw ProviderError.retryable("the media store is unavailable")
            }
            return LocalInput(path: copy.path, mimeType: image.mime, bytes: size(copy.path), temporary: copy.temporary)
        case .dataURI(let uri):
            guard let comma = uri.firstIndex(of: ",") else { throw invalid("malformed data URI") }
            return try write(base64: String(uri[uri.index(after: comma)...]))
        case .base64(let text):
            return try write(base64: text)
        case .url(let url):
            let local = try await download(url, maxBytes: Self.maxImageBytes, parameter: "image")
            guard let mime = sniff(local.path) else {
                try? FileManager.default.removeItem(atPath: local.path)
                throw invalid("the image at \(host(url)) is not png, jpeg or webp")
            }
            return LocalInput(path: local.path, mimeType: mime, bytes: local.bytes, temporary: true)
        }
    }

    /// `inputs.video`: a URL, or the videoUUID of an earlier result that `owner` may read.
    func video(_ reference: String, owner: MediaOwner) async throws(ProviderError) -> LocalInput {
        if VideoInferenceValidator.isUUID(reference) {
            guard let (result, taskUUID) = try? await store.findResult(reference), let path = result.mediaPath,
                let source = try? await store.find(taskUUID), owner.mayRead(mediaOf: source.apiKeyName)
            else {
                throw invalid("video \(reference) is not stored (expired or unknown)")
            }
            let format = VideoInferenceRequest.OutputFormat(rawValue: result.format) ?? .mp4
            let copy: (path: String, temporary: Bool)
            do {
                copy = try await media.localCopy(ofStoredPath: path, scratch: scratch)
            } catch let error as S3Error where error.kind == .notFound {
                throw invalid("video \(reference) is not stored (expired or unknown)")
            } catch {
                throw ProviderError.retryable("the media store is unavailable")
            }
            return LocalInput(path: copy.path, mimeType: format.contentType, bytes: size(copy.path), temporary: copy.temporary)
        }
        let local = try await download(reference, maxBytes: Self.maxVideoBytes, parameter: "video")
        return LocalInput(path: local.path, mimeType: videoType(local.path) ?? "video/mp4", bytes: local.bytes, temporary: true)
    }

    private func download(_ url: String, maxBytes: Int64, parameter: String) async throws(ProviderError) -> (path: String, bytes: Int64) {
        let checked: CheckedURL
        do {
            checked = try await urlGuard.check(url)
        } catch {
            throw ProviderError(kind: .permanent, code: .invalidInputURL, message: "input \(parameter) refused: \(error.reason)")
        }
        let path = "\(scratch)/input-\(UUID().uuidString)"
        do {
            let response = try await curl.perform(CurlRequest(
                url: url, headers: [("User-Agent", DeliveryWorker.userAgent)], sink: .file(path: path, maxBytes: maxBytes),
                totalTimeout: .seconds(120), lowSpeed: (1024, 30), pinnedAddress: checked.address.description))
            guard (200..<300).contains(response.status) else {
                try? FileManager.default.removeItem(atPath: path)
                let kind: ProviderError.Kind = response.status >= 500 || response.status == 429 ? .retryable : .permanent
                throw ProviderError(kind: kind, code: .invalidInput, message: "input \(parameter) at \(checked.host): HTTP \(response.status)")
            }
            return (path, response.bodyBytes)
        } catch let error as ProviderError {
            throw error
        } catch let error as CurlError {
            try? FileManager.default.removeItem(atPath: path)
            if error.kind == .tooLarge { throw invalid("input \(parameter) is larger than \(maxBytes / 1_048_576) MB") }
            throw ProviderError(kind: error.isRetryable ? .retryable : .permanent, code: .invalidInput,
                                message: "input \(parameter) at \(checked.host): \(error.message)")
        } catch {
            throw ProviderError.retryable("input \(parameter): \(error)")
        }
    }

    private func write(base64: String) throws(ProviderError) -> LocalInput {
        guard let data = Data(base64Encoded: base64, options: .ignoreUnknownCharacters), let mime = ImageSniffer.kind(of: data) else {
            throw invalid("image is not valid base64 png, jpeg or webp")
        }
        let path = "\(scratch)/input-\(UUID().uuidString)"
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw ProviderError.retryable("writing the input image failed: \(error)")
        }
        return LocalInput(path: path, mimeType: mime, bytes: Int64(data.count), temporary: true)
    }

    private func sniff(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 16) else { return nil }
        try? handle.close()
        return ImageSniffer.kind(of: head)
    }

    private func videoType(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 12) else { return nil }
        try? handle.close()
        let b = [UInt8](head)
        if b.count >= 8, b[4..<8] == Array("ftyp".utf8)[...] { return b[8..<min(12, b.count)] == Array("qt  ".utf8)[...] ? "video/quicktime" : "video/mp4" }
        if b.count >= 4, b[0..<4] == [0x1A, 0x45, 0xDF, 0xA3] { return "video/webm" }
        return nil
    }

    private func size(_ path: String) -> Int64 {
        fileSize(atPath: path) ?? 0
    }

    private func host(_ url: String) -> String { URLHost.of(url) }

    private func invalid(_ message: String) -> ProviderError {
        ProviderError(kind: .permanent, code: .invalidInput, message: message)
    }
}
