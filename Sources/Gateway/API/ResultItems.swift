import Domain
import Store
import Foundation
import Glibc
import S3

/// One `getResponse` item: its JSON fields and, for a finished `base64Data`/`dataURI` task, the
/// video to inline, described (path and size) rather than loaded: the bytes are read and
/// encoded only while the reply is sent (``ReplyBody``).
struct ResultItem: Sendable {
    /// In key order, as they are written (``JSONMembers``).
    var fields: JSONMembers
    var inline: InlineVideo?

    init(fields: JSONMembers, inline: InlineVideo? = nil) {
        self.fields = fields
        self.inline = inline
    }
}

/// A stored video that goes into a reply as base64 under `field`, after `prefix`.
struct InlineVideo: Sendable {
    let field: String
    let prefix: String
    /// A local file, or (before ``ResultItems/staged(_:media:)``) an object's stored path.
    var path: String
    let bytes: Int64
    /// The local copy of an object, removed once no reply holds it.
    var staged: TemporaryFile? = nil
}

/// A file that exists for as long as something holds this object: removed at its deinit.
final class TemporaryFile: Sendable {
    let path: String
    init(path: String) { self.path = path }
    deinit { unlink(path) }
}

/// `getResponse` items of a task (SPEC §2): one per result, always with its `videoUUID`.
///
/// Results are reported as `success` only once the whole task finished, all in the same
/// response (the legacy SDK counts successes across polls and would double-count otherwise); ACK
/// and processing items never carry a `*URL`/`*Base64Data`/`*DataURI` field.
enum ResultItems {
    static func items(for task: TaskRecord, media: MediaStore) -> [ResultItem] {
        items(for: task, request: replyOptions(task.requestJSON), media: media)
    }

    /// What of the stored request shapes its items (`includeCost`, `outputType`). A stored request
    /// is canonical JSON, whose keys are written as they are, so one that names neither key has
    /// neither and is not parsed: a poll of a finished task parsed its whole request for this.
    static func replyOptions(_ requestJSON: String) -> [String: JSONValue] {
        guard ByteSearch.contains(requestJSON, #""includeCost":"#) || ByteSearch.contains(requestJSON, #""outputType":"#) else { return [:] }
        return (try? JSONParser.parse(requestJSON))?.object ?? [:]
    }

    /// The items with every inline video that is an object staged in a local file (kept while a
    /// reply holds it); one that cannot be staged becomes an error item, as an expired one.
    /// A store that does not answer gives an error item (the client polls again).
    static func staged(_ items: [ResultItem], media: MediaStore) async -> [ResultItem] {
        (try? await staged(items, media: media, throwingWhenUnavailable: false)) ?? items
    }

    /// With `throwingWhenUnavailable` a store that does not answer throws instead (a webhook's
    /// attempt is retried rather than delivered as a failed video).
    static func staged(_ items: [ResultItem], media: MediaStore, throwingWhenUnavailable: Bool) async throws -> [ResultItem] {
        var out = items
        for index in out.indices {
            guard let inline = out[index].inline, ObjectMedia.key(ofStoredPath: inline.path) != nil else { continue }
            do {
                let copy = try await media.localCopy(ofStoredPath: inline.path, scratch: media.directory)
                out[index].inline?.path = copy.path
                out[index].inline?.staged = TemporaryFile(path: copy.path)
            } catch {
                if throwingWhenUnavailable, (error as? S3Error)?.kind != .notFound { throw error }
                var fields = out[index].fields
                fields["status"] = "error"
                fields["error"] = (error as? S3Error)?.kind == .notFound
                    ? ["code": "mediaExpired", "message": "the video is no longer stored"]
                    : ["code": "serviceUnavailable", "message": "the media store is unavailable; retry later"]
                out[index] = ResultItem(fields: fields, inline: nil)
            }
        }
        return out
    }

    /// With the task's stored request already parsed (the ops view parses it once for both).
    /// Without `links` no `videoURL` is signed: the ops view signs its own for every result.
    static func items(for task: TaskRecord, request: [String: JSONValue], media: MediaStore, links: Bool = true) -> [ResultItem] {
        let includeCost = request["includeCost"]?.bool ?? false
        let outputType = request["outputType"]?.string ?? "URL"
        return task.results.map { result in
            // Members are set in key order (each then costs one comparison; see JSONMembers), the
            // ones every item has last.
            var item = JSONMembers(capacity: 9)
            func identified(videoURL: String? = nil) -> JSONMembers {
                Self.identify(&item, task: task, videoUUID: result.videoUUID, videoURL: videoURL)
                return item
            }
            func expired() -> ResultItem {
                Self.expire(&item)
                return ResultItem(fields: identified(), inline: nil)
            }
            switch (task.state, result.state) {
            case (.succeeded, .ready), (.delivering, .ready), (.failed, .ready), (.cancelled, .ready):
                // Swept after its expiry, or deleted (the OpenAI API's DELETE): no dead link.
                guard result.mediaPath != nil else { return expired() }
                let ext = result.format.lowercased()
                var inline: InlineVideo?
                var videoURL: String?
                if outputType == "base64Data" || outputType == "dataURI" {
                    let path = result.mediaPath ?? media.path(videoUUID: result.videoUUID, ext: ext)
                    var info = stat()
                    if ObjectMedia.key(ofStoredPath: path) != nil {
                        // In the bucket: staged before the reply is made (``staged(_:media:)``).
                        info.st_size = Int(result.mediaBytes ?? 0)
                    } else if stat(path, &info) != 0 {
                        return expired()
                    }
                    let mime = VideoInferenceRequest.OutputFormat(rawValue: result.format)?.contentType ?? "video/mp4"
                    inline = outputType == "base64Data"
                        ? InlineVideo(field: "videoBase64Data", prefix: "", path: path, bytes: Int64(info.st_size))
                        : InlineVideo(field: "videoDataURI", prefix: "data:\(mime);base64,", path: path, bytes: Int64(info.st_size))
                } else if links {
                    videoURL = media.signedURL(videoUUID: result.videoUUID, ext: ext, expiresAt: Int64(result.expiresAt ?? 0))
                }
                if includeCost, let cost = result.cost { item["cost"] = .double(cost) }
                item["progress"] = 100
                item["seed"] = .int(result.seed)
                item["status"] = "success"
                return ResultItem(fields: identified(videoURL: videoURL), inline: inline)
            case (_, .failed), (.failed, _), (.cancelled, _):
                item["error"] = ["code": .string(result.errorCode ?? task.errorCode ?? "providerError"),
                                 "message": .string(result.errorMessage ?? task.errorMessage ?? "the task failed")]
                item["status"] = "error"
            default:
                item["progress"] = .int(Int64(min(result.progress, 99)))
                item["status"] = "processing"
            }
            return ResultItem(fields: identified(), inline: nil)
        }
    }

    /// The members every item has, last in key order.
    private static func identify(_ item: inout JSONMembers, task: TaskRecord, videoUUID: String, videoURL: String?) {
        item["taskType"] = "videoInference"
        item["taskUUID"] = .string(task.uuid)
        if let videoURL { item["videoURL"] = .string(videoURL) }
        item["videoUUID"] = .string(videoUUID)
    }

    private static func expire(_ item: inout JSONMembers) {
        item["error"] = ["code": "mediaExpired", "message": "the video is no longer stored"]
        item["status"] = "error"
    }
}
