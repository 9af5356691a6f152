import Domain
import Foundation
import HTTPServer
import Multipart

/// The fields of `POST /v1/videos` and `POST /v1/videos/{id}/remix`, from JSON or from
/// multipart/form-data (the `openai` SDK always sends `create` as multipart), checked strictly:
/// an unknown or repeated field, a field of the wrong kind, is a 400 naming it.
struct OpenAIVideoRequest: Sendable {
    var prompt: String?
    var model: String?
    var seconds: String?
    var size: String?
    /// `input_reference` as a file part: the image's bytes.
    var referenceFile: Data?
    /// `input_reference: {"image_url": …}` in JSON.
    var referenceURL: String?

    /// A JSON `input_reference` object arrives in multipart as bracketed fields (the SDK's form
    /// encoding): `input_reference[image_url]`.
    static let fields: Set<String> = ["prompt", "model", "seconds", "size", "input_reference", "input_reference[image_url]", "input_reference[file_id]"]

    static func parse(_ request: Request, fields allowed: Set<String> = fields) throws(OpenAIError) -> OpenAIVideoRequest {
        let type = request.headers["content-type"] ?? ""
        if let boundary = MultipartParser.boundary(contentType: type) {
            return try multipart(request.body, boundary: boundary, allowed: allowed)
        }
        if type.lowercased().hasPrefix("multipart/") {
            throw .badRequest("a multipart body needs Content-Type: multipart/form-data with a valid boundary", param: nil, code: "invalid_request")
        }
        guard type.isEmpty || type.lowercased().hasPrefix("application/json") else {
            throw .badRequest("send JSON (application/json) or multipart/form-data", param: nil, code: "invalid_request")
        }
        return try json(request.body, allowed: allowed)
    }

    static func json(_ body: [UInt8], allowed: Set<String>) throws(OpenAIError) -> OpenAIVideoRequest {
        // A body of these few fields has a few values; a huge array is refused, not built.
        guard let value = try? JSONParser.parse(body, maxDepth: 4, maxValues: 64), let o = value.object else {
            throw .badRequest("the body is not a JSON object", param: nil, code: "invalid_json")
        }
        var out = OpenAIVideoRequest()
        for key in o.keys.sorted() where !allowed.contains(key) {
            throw .badRequest("unknown parameter: \(APIErrorItem.echo(key))", param: APIErrorItem.echo(key), code: "unknown_parameter")
        }
        func text(_ key: String) throws(OpenAIError) -> String? {
            switch o[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            // `seconds` as a number is what a hand-written client would send; it means the same.
            case .int(let n)? where key == "seconds": return String(n)
            default: throw .badRequest("\(key) must be a string", param: key)
            }
        }
        out.prompt = try text("prompt")
        out.model = try text("model")
        out.seconds = try text("seconds")
        out.size = try text("size")
        if let reference = o["input_reference"], reference != .null {
            guard let r = reference.object else {
                throw .badRequest("input_reference is an object with image_url (or a file part in multipart/form-data)", param: "input_reference")
            }
            if r["file_id"] != nil {
                throw .badRequest("input_reference.file_id is not supported: reelgate has no Files API; send the image as a file part or an image_url",
                                  param: "input_reference.file_id", code: "unsupported_parameter")
            }
            for key in r.keys.sorted() where key != "image_url" {
                throw .badRequest("unknown parameter: input_reference.\(APIErrorItem.echo(key))", param: "input_reference", code: "unknown_parameter")
            }
            guard let url = r["image_url"]?.string, !url.isEmpty else {
                throw .badRequest("input_reference needs image_url", param: "input_reference.image_url")
            }
            out.referenceURL = url
        }
        try out.checkPrompt()
        return out
    }

    static func multipart(_ body: [UInt8], boundary: String, allowed: Set<String>) throws(OpenAIError) -> OpenAIVideoRequest {
        var limits = MultipartLimits()
        limits.maxParts = 8
        limits.maxFieldBytes = VideoInferenceValidator.maxPromptBytes + 16
        limits.maxFileBytes = VideoInferenceValidator.maxImageBytes
        var out = OpenAIVideoRequest()
        var seen: Set<String> = []
        var current: MultipartPartHead?
        var bytes: [UInt8] = []
        do {
            var parser = try MultipartParser(boundary: boundary, limits: limits)
            // In pieces, as it would come off the socket: the parser holds one piece at a time,
            // and each piece's events are handled before the next is fed.
            var offset = 0
            repeat {
                let end = min(offset + 64 * 1024, body.count)
                let events = try parser.feed(body[offset..<end])
                offset = end
                for event in events {
                    switch event {
                    case .begin(let head):
                        guard allowed.contains(head.name) else {
                            throw OpenAIError.badRequest("unknown parameter: \(APIErrorItem.echo(head.name))", param: APIErrorItem.echo(head.name),
                                                         code: "unknown_parameter")
                        }
                        guard seen.insert(head.name).inserted else { throw OpenAIError.badRequest("\(head.name) is given twice", param: head.name) }
                        if head.filename != nil, head.name != "input_reference" {
                            throw OpenAIError.badRequest("\(head.name) is a text field, not a file", param: head.name)
                        }
                        current = head
                        bytes = []
                    case .data(let piece):
                        bytes += piece
                    case .end:
                        guard let head = current else { continue }
                        try out.set(head, bytes)
                        current = nil
                    }
                }
            } while offset < body.count && !parser.isComplete
            try parser.finish()
        } catch let error as OpenAIError {
            throw error
        } catch let error as MultipartError where error.kind == .fileTooLarge {
            throw .badRequest("the input_reference image may be at most \(VideoInferenceValidator.maxImageBytes / 1_000_000) MB", param: "input_reference")
        } catch let error as MultipartError {
            throw .badRequest("the multipart body is malformed: \(error.message)", param: nil, code: "invalid_multipart")
        } catch {
            throw .badRequest("the multipart body is malformed", param: nil, code: "invalid_multipart")
        }
        try out.checkPrompt()
        return out
    }

    private mutating func set(_ head: MultipartPartHead, _ bytes: [UInt8]) throws(OpenAIError) {
        if head.name == "input_reference" {
            guard head.filename != nil else {
                throw .badRequest("input_reference in multipart/form-data is a file part (an image)", param: "input_reference")
            }
            guard referenceURL == nil else { throw .badRequest("give input_reference as a file or an image_url, not both", param: "input_reference") }
            guard !bytes.isEmpty else { throw .badRequest("the input_reference file is empty", param: "input_reference") }
            referenceFile = Data(bytes)
            return
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .badRequest("\(head.name) is not UTF-8 text", param: head.name) }
        switch head.name {
        case "input_reference[file_id]":
            throw .badRequest("input_reference.file_id is not supported: reelgate has no Files API; send the image as a file part or an image_url",
                              param: "input_reference.file_id", code: "unsupported_parameter")
        case "input_reference[image_url]":
            guard !text.isEmpty else { throw .badRequest("input_reference needs image_url", param: "input_reference.image_url") }
            guard referenceFile == nil else { throw .badRequest("give input_reference as a file or an image_url, not both", param: "input_reference") }
            referenceURL = text
        case "prompt": prompt = text
        case "model": model = text
        case "seconds": seconds = text
        case "size": size = text
        default: break
        }
    }

    /// The routed models' limit, in this API's words (OpenAI's own is 32,000 characters).
    private func checkPrompt() throws(OpenAIError) {
        guard let prompt else { return }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw .badRequest("prompt must not be empty", param: "prompt") }
        let characters = VideoInferenceValidator.maxPromptCharacters, bytes = VideoInferenceValidator.maxPromptBytes
        guard prompt.unicodeScalars.count >= 2 else { throw .badRequest("prompt must be at least 2 characters", param: "prompt") }
        guard prompt.unicodeScalars.count <= characters, prompt.utf8.count <= bytes else {
            throw .badRequest("prompt may be at most \(characters) characters (Unicode code points) and \(bytes) bytes of UTF-8 for these models",
                              param: "prompt", code: "string_above_max_length")
        }
    }
}

/// OpenAI's sizes, and the routed model's own, as the task API's aspect ratio and resolution.
enum OpenAIVideoSize {
    static let all: [(size: String, aspectRatio: String, resolution: String)] = [
        ("720x1280", "9:16", "720p"), ("1280x720", "16:9", "720p"), ("1024x1792", "9:16", "1080p"), ("1792x1024", "16:9", "1080p"),
        ("1080x1920", "9:16", "1080p"), ("1920x1080", "16:9", "1080p"), ("720x720", "1:1", "720p"), ("1080x1080", "1:1", "1080p"),
    ]
    static let `default` = "720x1280"

    static func task(_ size: String) -> (aspectRatio: String, resolution: String)? {
        all.first { $0.size == size }.map { ($0.aspectRatio, $0.resolution) }
    }
}
