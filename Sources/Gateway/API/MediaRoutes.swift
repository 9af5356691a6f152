import Domain
import S3
import Store
import Foundation
import HTTP1
import HTTPServer

/// `GET /v1/media/<videoUUID>.<ext>?exp=&sig=`: signed, expiring, seekable (SPEC §5).
///
/// The body is a file range the server sends with sendfile(2): memory does not grow with size.
enum MediaRoutes {
    static func register(on router: RouterBuilder, media: MediaStore, clock: @escaping @Sendable () -> Double) {
        router.get("/v1/media/:file") { request in
            let file = request.pathParameters["file"] ?? ""
            let parts = file.split(separator: ".")
            guard parts.count == 2, VideoInferenceValidator.isUUID(String(parts[0])),
                let format = VideoInferenceRequest.OutputFormat(rawValue: parts[1].uppercased())
            else {
                throw APIError(.unknownVideo, "no such media")
            }
            let query = request.queryParameters
            switch media.verify(file: file, exp: query["exp"], sig: query["sig"], now: clock()) {
            case .badSignature:
                throw APIError(.invalidSignature, "the media URL's signature is not valid")
            case .expired:
                throw APIError(.mediaExpired, "the media URL has expired")
            case .valid:
                break
            }
            return try await serve(videoUUID: String(parts[0]), format: format, range: request.headers["range"], media: media,
                                   headOnly: request.method == "HEAD")
        }
    }

    /// A stored result's bytes, whole or the range asked for, from disk or the bucket; the
    /// caller has decided the client may have them. `headOnly` (a HEAD request): the same
    /// headers, without asking the bucket for the bytes.
    static func serve(videoUUID: String, format: VideoInferenceRequest.OutputFormat, range: String?, media: MediaStore,
                  cacheControl: String = "private, max-age=3600", headOnly: Bool = false) async throws -> HTTPResponse {
        let ext = format.rawValue.lowercased()
        var headers = HTTPHeaders([("Content-Type", format.contentType), ("Accept-Ranges", "bytes"), ("Cache-Control", cacheControl)])
        if let objects = media.objects {
            return try await objectResponse(file: "\(videoUUID).\(ext)", range: range, objects: objects, media: media, headers: headers,
                                            headOnly: headOnly)
        }
        let path = media.path(videoUUID: videoUUID, ext: ext)
        guard let size = fileSize(atPath: path) else {
            throw APIError(.unknownVideo, "the media has been removed")
        }
        switch ByteRange.parse(range, size: size) {
        case .whole:
            return HTTPResponse(status: .ok, headers: headers, body: .file(path: path, offset: 0, length: size))
        case .partial(let start, let end):
            headers.add(name: "Content-Range", value: "bytes \(start)-\(end)/\(size)")
            return HTTPResponse(status: .partialContent, headers: headers, body: .file(path: path, offset: start, length: end - start + 1))
        case .unsatisfiable:
            headers.add(name: "Content-Range", value: "bytes */\(size)")
            return HTTPResponse(status: .rangeNotSatisfiable, headers: headers)
        }
    }
}

extension MediaRoutes {
    /// The same answer from the object store: the object's size first (a missing one is 404, as
    /// on disk), the range decided as for a file, then just those bytes relayed from the store
    /// (``RelayedObject``). An unavailable store is 503, never 500.
    static func objectResponse(file: String, range: String?, objects: ObjectMedia, media: MediaStore, headers original: HTTPHeaders,
                               headOnly: Bool = false) async throws -> HTTPResponse
    {
        var headers = original
        let key = objects.key(file: file)
        do {
            guard let size = try await objects.size(key: key) else { throw APIError(.unknownVideo, "the media has been removed") }
            let status: HTTPStatus, start: Int64, end: Int64
            switch ByteRange.parse(range, size: size) {
            case .whole:
                (status, start, end) = (.ok, 0, size - 1)
            case .partial(let from, let to):
                (status, start, end) = (.partialContent, from, to)
                headers.add(name: "Content-Range", value: "bytes \(from)-\(to)/\(size)")
            case .unsatisfiable:
                headers.add(name: "Content-Range", value: "bytes */\(size)")
                return HTTPResponse(status: .rangeNotSatisfiable, headers: headers)
            }
            guard size > 0 else { return HTTPResponse(status: status, headers: headers) }
            // The range is relayed while it arrives, through memory, or through a local file for
            // a client slower than the store. Room in the staging budget (what that file may
            // take, until the response is over) is checked first, so a busy instance answers 503
            // before any header is out.
            let range = status == .ok ? nil : "bytes=\(start)-\(end)", length = end - start + 1
            guard objects.staging.acquire(length) else { throw S3Error.busy(key: key) }
            let relay = RelayedObject(spillPath: "\(media.directory)/.stage-\(UUID().uuidString)") { objects.staging.release(length) }
            // A HEAD gets the same headers; its body is never sent, so nothing is fetched for it.
            if !headOnly { relay.follow { _ = try await objects.relay(key: key, range: range, into: relay) } }
            return HTTPResponse(status: status, headers: headers, body: .stream(length: length, source: relay))
        } catch let error as S3Error {
            if error.kind == .notFound { throw APIError(.unknownVideo, "the media has been removed") }
            throw APIError(.serviceUnavailable, "the media store is unavailable; retry later")
        }
    }
}

/// A single `Range: bytes=…` request (RFC 9110 §14). Several ranges, or a header we cannot read,
/// get the whole representation, which the RFC allows.
enum ByteRange: Equatable {
    case whole
    case partial(start: Int64, end: Int64)
    case unsatisfiable

    static func parse(_ header: String?, size: Int64) -> ByteRange {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int64(last), suffix > 0 else { return .whole }
            guard size > 0 else { return .unsatisfiable }
            return .partial(start: max(size - suffix, 0), end: size - 1)
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .partial(start: start, end: size - 1) }
        guard let end = Int64(last), end >= start else { return .whole }
        return .partial(start: start, end: min(end, size - 1))
    }
}
