import Crypto
import Domain
import Foundation
import HTTP1
import HTTPServer
import Store

/// The OpenAI-compatible video API (SPEC §18): `client.videos` of the `openai` SDK, served on the
/// same keys, tasks and store as the Runware API. A video here is a task created here (its
/// `openai_json`); a task made through the Runware API is not a video of this API, since it has
/// none of this API's fields (`seconds`, `size`, the model name the client chose) to answer with,
/// and an OpenAI client listing its videos should see only what it made.
///
/// Every error is in OpenAI's shape with OpenAI's status; another key's video is a 404.
struct OpenAIVideoRoutes: Sendable {
    let store: any TaskStore
    let media: MediaStore
    let janitor: MediaJanitor
    let authenticator: Authenticator
    let taskAPI: TaskAPI
    let canceller: TaskCanceller
    /// Model names clients send → AIR ids the router knows (`openaiModels`).
    let models: [String: String]
    let logger: Logger

    /// The Runware fields of a task, named as this API names them, for errors about them.
    static let parameters = [
        "positivePrompt": "prompt", "duration": "seconds", "aspectRatio": "size", "resolution": "size", "width": "size", "height": "size",
        "model": "model", "frameImages": "input_reference", "inputs.frameImages": "input_reference", "inputs.videoId": "video_id",
        "image": "input_reference", "taskUUID": "Idempotency-Key",
    ]

    func register(on http: RouterBuilder, admission: RequestAdmission) {
        let large = admission.openAIEndpoint(maxBytes: nil), small = admission.openAIEndpoint(maxBytes: 64 * 1024)
        http.add("POST", "/v1/videos", admission: large, openAI { request in try await create(request) })
        http.add("GET", "/v1/videos", openAI { request in try await list(request) })
        http.add("GET", "/v1/videos/:id", openAI { request in
            let (task, video) = try await visible(request)
            return Self.reply(video.object(for: task), pollAfter: task)
        })
        http.add("DELETE", "/v1/videos/:id", openAI { request in try await delete(request) })
        http.add("GET", "/v1/videos/:id/content", openAI { request in try await content(request) })
        http.add("POST", "/v1/videos/:id/remix", admission: small, openAI { request in try await remix(request) })
        // The API's later additions (edits, extensions, characters): a clear answer in this
        // API's shape rather than the router's 404 or 405.
        let unsupported = openAI { request -> HTTPResponse in
            throw OpenAIError(status: 404, "\(request.method) \(request.path) is not served by reelgate (SPEC §18 serves create, list, retrieve, "
                                  + "delete, content and remix)", code: "unsupported_endpoint")
        }
        http.add("POST", "/v1/videos/:id", admission: small, unsupported)
        http.add("GET", "/v1/videos/characters/:id", unsupported)
    }

    /// Every error of this API in its own shape: a store outage or a bug is a 500 in OpenAI's
    /// shape, its detail in the log only.
    func openAI(_ handler: @escaping Router.Handler) -> Router.Handler {
        { [logger] request in
            do {
                return try await handler(request)
            } catch let error as OpenAIError {
                throw error
            } catch let error as APIError {
                throw OpenAIError(error, parameters: Self.parameters)
            } catch let error as APIErrorItem {
                throw OpenAIError(error, parameters: Self.parameters)
            } catch {
                logger.error("OpenAI API request failed", ["method": request.method, "route": request.path, "error": "\(error)"])
                throw OpenAIError(status: 500, "the request could not be completed; retry later", code: "internal_error", shouldRetry: false)
            }
        }
    }

    // MARK: Who and which

    private func principal(_ request: Request) throws(OpenAIError) -> Principal {
        guard let key = Authenticator.bearer(request.headers["authorization"]) else { throw .missingKey }
        // Checked already when the head was admitted, if the route's admission did.
        guard let principal = request.admittedIdentity as? Principal ?? authenticator.authenticate(key) else { throw .invalidKey }
        return principal
    }

    /// The video the path names, if the key may see it (another key's is a 404, as an unknown one).
    private func visible(_ request: Request) async throws -> (TaskRecord, OpenAIVideo) {
        let principal = try principal(request)
        return try await visible(request.pathParameters["id"] ?? "", principal)
    }

    private func visible(_ id: String, _ principal: Principal) async throws -> (TaskRecord, OpenAIVideo) {
        guard let uuid = OpenAIVideo.taskUUID(id: id), let task = try await store.find(uuid), task.deletedAt == nil,
            principal.isOps || task.apiKeyName == principal.name, let video = OpenAIVideo(task: task)
        else { throw OpenAIError.notFound(id) }
        return (task, video)
    }

    // MARK: Create and remix

    private func create(_ request: Request) async throws -> HTTPResponse {
        let principal = try principal(request)
        let body = request.body.count > TaskAPI.offLoopBodyBytes
            ? try await offLoop { () throws(OpenAIError) -> OpenAIVideoRequest in try OpenAIVideoRequest.parse(request) }
            : try OpenAIVideoRequest.parse(request)
        guard let prompt = body.prompt else { throw OpenAIError.badRequest("prompt is required", param: "prompt", code: "missing_required_parameter") }
        let modelName = body.model ?? "sora-2"
        guard let air = models[modelName] else {
            throw OpenAIError.badRequest(
                "model \(APIErrorItem.echo(modelName)) is not served here; one of: \(models.keys.sorted().joined(separator: ", ")) (openaiModels)",
                param: "model", code: "model_not_found")
        }
        var task = try Self.task(prompt: prompt, air: air, seconds: body.seconds, size: body.size,
                                 taskUUID: Self.taskUUID(idempotencyKey: request.headers["idempotency-key"], principal: principal))
        let video = OpenAIVideo(model: modelName, prompt: prompt, seconds: task["duration"]?.integer.map { String($0) } ?? "",
                                size: body.size ?? OpenAIVideoSize.default)
        if let url = body.referenceURL { task["frameImages"] = [["image": .string(url), "frame": "first"]] }
        guard let file = body.referenceFile else { return try await submit(task, video: video, principal: principal) }
        // The whole task is checked before the image is stored (a refused create costs no disk),
        // and the image goes again if the task is refused after all (limits, budget).
        var probe = task
        probe["frameImages"] = [["image": .string(UUID().uuidString.lowercased()), "frame": "first"]]
        if case .failure(let error) = taskAPI.validator.validate(probe) { throw OpenAIError(error, parameters: Self.parameters) }
        let imageUUID = try await taskAPI.storeImage(file, principal: principal, parameter: "input_reference")
        task["frameImages"] = [["image": .string(imageUUID), "frame": "first"]]
        do {
            return try await submit(task, video: video, principal: principal)
        } catch let error as OpenAIError where !error.accepted {
            await taskAPI.removeImage(imageUUID)
            throw error
        }
    }

    /// With `Idempotency-Key`, the same key and header name the same task: a retried create is
    /// answered with the first one's video, never a second (paid) one.
    static func taskUUID(idempotencyKey: String?, principal: Principal) -> String {
        guard let idempotencyKey, !idempotencyKey.isEmpty else { return UUID().uuidString.lowercased() }
        var bytes = Array(Crypto.sha256("reelgate openai create\u{0}\(principal.name)\u{0}\(idempotencyKey)").prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // shaped as version 4, as the task API takes them
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUIDText.dashed(Crypto.hex(bytes))
    }

    private func remix(_ request: Request) async throws -> HTTPResponse {
        let principal = try principal(request)
        let (source, sourceVideo) = try await visible(request.pathParameters["id"] ?? "", principal)
        let body = try OpenAIVideoRequest.parse(request, fields: ["prompt"])
        guard let prompt = body.prompt else { throw OpenAIError.badRequest("prompt is required", param: "prompt", code: "missing_required_parameter") }
        guard source.state == .succeeded, let result = source.results.first, result.state == .ready else {
            throw OpenAIError.badRequest("only a completed video can be remixed; this one is \(OpenAIVideo.status(source.state))", param: "video_id",
                                         code: "video_not_ready")
        }
        // An edit of that video (SPEC §9): the provider continues its interaction, or is sent the
        // video where it keeps no state; same model, length and shape as the source.
        var task = try Self.task(prompt: prompt, air: source.model, seconds: sourceVideo.seconds, size: sourceVideo.size)
        task["inputs"] = ["videoId": .string(result.videoUUID)]
        let video = OpenAIVideo(model: sourceVideo.model, prompt: prompt, seconds: sourceVideo.seconds, size: sourceVideo.size,
                                remixedFrom: OpenAIVideo.id(taskUUID: source.uuid))
        return try await submit(task, video: video, principal: principal)
    }

    /// The task API's task for this API's fields, `seconds` and `size` checked here so the error
    /// names them as the client did.
    static func task(prompt: String, air: String, seconds: String?, size: String?,
                     taskUUID: String = UUID().uuidString.lowercased()) throws(OpenAIError) -> [String: JSONValue] {
        let range = VideoInferenceValidator.durations
        let secondsText = seconds ?? "4"
        guard let duration = Int(secondsText), String(duration) == secondsText, range.contains(duration) else {
            throw .badRequest("seconds must be a whole number of seconds from \(range.lowerBound) to \(range.upperBound) for this model, as a string",
                              param: "seconds")
        }
        let sizeText = size ?? OpenAIVideoSize.default
        guard let shape = OpenAIVideoSize.task(sizeText) else {
            throw .badRequest("size must be one of \(OpenAIVideoSize.all.map(\.size).joined(separator: ", "))", param: "size")
        }
        return [
            "taskType": "videoInference", "taskUUID": .string(taskUUID), "model": .string(air),
            "positivePrompt": .string(prompt), "duration": .int(Int64(duration)), "aspectRatio": .string(shape.aspectRatio),
            "resolution": .string(shape.resolution), "deliveryMethod": "async", "includeCost": true,
        ]
    }

    /// Submits through the task API (its validation, limits, budget and durable ACK), keeping this
    /// API's fields with the task, and answers with the new video.
    private func submit(_ task: [String: JSONValue], video: OpenAIVideo, principal: Principal) async throws -> HTTPResponse {
        let json = video.json
        let uuid = task["taskUUID"]?.string ?? ""
        // A large body (an image as a data URI) is encoded and hashed off the event loop.
        let run = { await taskAPI.run([.object(task)], principal: principal) { $0.openAI = json } }
        let reply = json.utf8.count + (task["frameImages"]?.serialized().utf8.count ?? 0) > TaskAPI.offLoopBodyBytes ? await offLoop(run) : await run()
        if let error = reply.errors.first {
            var refused = OpenAIError(error, parameters: Self.parameters)
            // Not stored: nothing was made, so a retry (the SDK's own) cannot make a second video.
            // An ambiguous store failure is the exception: the task may be there; say not to retry.
            if error.code == .serviceUnavailable { refused.shouldRetry = false }
            throw refused
        }
        // Accepted and durable: the answer never fails from here (a 5xx now would be retried by
        // the SDK into a second video), so a read-back that fails is answered from what is known.
        let stored = (try? await store.find(uuid)) ?? TaskRecord(
            uuid: uuid, apiKeyName: principal.name, model: task["model"]?.string ?? "", requestJSON: "", state: .queued,
            createdAt: Date().timeIntervalSince1970, updatedAt: Date().timeIntervalSince1970)
        var response = Self.reply(video.object(for: stored), pollAfter: stored)
        response.headers.add(name: "x-should-retry", value: "false")
        return response
    }

    // MARK: List, delete, content

    private func list(_ request: Request) async throws -> HTTPResponse {
        let principal = try principal(request)
        let q = request.queryParameters
        var limit = 20
        if let text = q["limit"] {
            guard let n = Int(text), (0...100).contains(n) else { throw OpenAIError.badRequest("limit must be 0 to 100", param: "limit") }
            limit = n
        }
        let order = q["order"] ?? "desc"
        guard order == "asc" || order == "desc" else { throw OpenAIError.badRequest("order must be asc or desc", param: "order") }
        var cursor: (Double, String)?
        if let after = q["after"] {
            // A video deleted since the page was read still marks the place (a list-and-delete loop).
            guard let uuid = OpenAIVideo.taskUUID(id: after), let task = try await store.find(uuid), task.openAI != nil,
                principal.isOps || task.apiKeyName == principal.name
            else {
                throw OpenAIError.badRequest("after must be the id of one of your videos", param: "after")
            }
            cursor = (task.createdAt, task.uuid)
        }
        let filter = TaskListFilter(keyName: principal.isOps ? nil : principal.name, openAIVideos: true, ascending: order == "asc")
        let page = limit == 0 ? [] : try await store.list(filter, limit: limit + 1, cursor: cursor)
        let items = page.prefix(limit).compactMap { task in OpenAIVideo(task: task).map { $0.object(for: task) } }
        let ids = items.compactMap { $0["id"]?.string }
        let body: JSONValue = [
            "object": "list", "data": .array(items), "first_id": ids.first.map { .string($0) } ?? .null,
            "last_id": ids.last.map { .string($0) } ?? .null, "has_more": .bool(page.count > limit),
        ]
        return .jsonBytes(body.serializedBytes())
    }

    private func delete(_ request: Request) async throws -> HTTPResponse {
        let principal = try principal(request)
        let id = request.pathParameters["id"] ?? ""
        var (task, _) = try await visible(id, principal)
        // A video still being made stops first (locally and upstream), then goes.
        if !task.state.isTerminal, let cancelled = try await canceller.cancel(task.uuid) { task = cancelled }
        for result in task.results {
            guard let path = result.mediaPath else { continue }
            guard await janitor.removeNow(videoUUID: result.videoUUID, path: path, bytes: result.mediaBytes ?? 0) else {
                throw OpenAIError(status: 503, "the video's media could not be deleted now; retry", code: "service_unavailable")
            }
        }
        guard try await store.markVideoDeleted(task.uuid) else { throw OpenAIError.notFound(id) }
        return .jsonBytes(JSONValue.object(["id": .string(OpenAIVideo.id(taskUUID: task.uuid)), "object": "video.deleted", "deleted": true])
            .serializedBytes())
    }

    private func content(_ request: Request) async throws -> HTTPResponse {
        let (task, _) = try await visible(request)
        let variant = request.queryParameters["variant"] ?? "video"
        guard variant == "video" else {
            guard variant == "thumbnail" || variant == "spritesheet" else {
                throw OpenAIError.badRequest("variant must be video, thumbnail or spritesheet", param: "variant")
            }
            throw OpenAIError(status: 404, "this video has no \(variant): its provider did not produce one", param: "variant", code: "not_found")
        }
        guard task.state == .succeeded || task.state == .delivering, let result = task.results.first, result.state == .ready,
            let format = VideoInferenceRequest.OutputFormat(rawValue: result.format)
        else {
            throw OpenAIError.badRequest("the video is \(OpenAIVideo.status(task.state)); its content is there once it is completed",
                                         param: "video_id", code: "video_not_ready")
        }
        do {
            return try await MediaRoutes.serve(videoUUID: result.videoUUID, format: format, range: request.headers["range"], media: media,
                                               cacheControl: "private, no-store", headOnly: request.method == "HEAD")
        } catch let error as APIError {
            throw OpenAIError(error)
        }
    }

    /// A video object with `openai-poll-after-ms`: how soon a poll may find something new.
    static func reply(_ object: JSONValue, pollAfter task: TaskRecord) -> HTTPResponse {
        var response = HTTPResponse.jsonBytes(object.serializedBytes())
        let milliseconds = task.state.isTerminal ? 1000 : Int(min(max((task.pollInterval ?? 1) * 1000, 250), 10_000))
        response.headers.add(name: "openai-poll-after-ms", value: String(milliseconds))
        return response
    }
}
