import Crypto
import Domain
import Store
import Foundation
import HTTP1
import HTTPServer

/// The Runware-compatible task endpoint (SPEC §2): `POST /v1` and `POST /`.
///
/// Tasks in one request succeed or fail independently; the body holds `data` and/or `errors`
/// (never an empty `errors`), and the status is 200 or that of the first error.
final class TaskAPI: Sendable {
    /// What one request may ask for (SPEC §12).
    struct Limits: Sendable {
        var maxTasksPerRequest = 100
        var maxStoredRequestBytes = 8 << 20
        var maxInlineResponseBytes: Int64 = 256 << 20
        var maxImageUploadsPerRequest = 8
        var imageTTLSeconds = 86_400.0
    }

    let store: any TaskStore
    let media: MediaStore
    let authenticator: Authenticator
    let validator: VideoInferenceValidator
    let workers: WorkerPool
    let logger: Logger
    let rateLimiter: KeyRateLimiter
    let janitor: MediaJanitor
    let urlGuard: URLGuard
    let maxInFlight: [String: Int]
    let limits: Limits

    init(store: any TaskStore, media: MediaStore, authenticator: Authenticator, validator: VideoInferenceValidator, workers: WorkerPool,
         logger: Logger, keys: [Configuration.APIKey], janitor: MediaJanitor, urlGuard: URLGuard, limits: Limits = Limits()) {
        self.limits = limits
        self.janitor = janitor
        self.urlGuard = urlGuard
        rateLimiter = KeyRateLimiter(keys: keys)
        maxInFlight = Dictionary(keys.compactMap { k in k.maxInFlight.map { (k.name, $0) } }, uniquingKeysWith: { a, _ in a })
        self.store = store
        self.media = media
        self.authenticator = authenticator
        self.validator = validator
        self.workers = workers
        self.logger = logger
    }

    /// Bodies larger than this are parsed and validated off the event loop (``offLoop``): a
    /// multi-megabyte body of inline images must not hold up the loop's other connections.
    static let offLoopBodyBytes = 64 * 1024

    func register(on router: RouterBuilder, admission: RequestAdmission) {
        let handler: Router.Handler = { [self] request in
            request.body.count > Self.offLoopBodyBytes ? await offLoop { await handle(request) } : await handle(request)
        }
        router.add("POST", "/v1", admission: admission.taskEndpoint, handler)
        router.add("POST", "/", admission: admission.taskEndpoint, handler)
    }

    /// What a batch of tasks gets back, in the order of the tasks; and which tasks the caller
    /// now waits on (submitted, or polled while unfinished): a WebSocket session is told when
    /// their results are final (SPEC §15).
    struct Reply {
        var data: [ResultItem] = []
        var errors: [APIErrorItem] = []
        var watching: [String] = []
        /// Tasks resubmitted after they finished: what the caller waits for is there already.
        var finished: [String] = []
    }

    func handle(_ request: Request) async -> HTTPResponse {
        var tasks: [JSONValue]
        switch parseTasks(request.body) {
        case .success(let parsed): tasks = parsed
        case .failure(let error): return Self.render(Reply(errors: [error]))
        }

        // Authentication: Bearer header, or an authentication task first.
        var presented = Authenticator.bearer(request.headers["authorization"])
        // The header's key was checked when the head was admitted; a key in the body was not.
        var admitted = request.admittedIdentity as? Principal
        if let first = tasks.first?.object, first["taskType"]?.string == "authentication" {
            if let key = first["apiKey"]?.string {
                presented = key
                admitted = nil
            }
            tasks.removeFirst()
        }
        guard let key = presented else { return Self.authenticationError(.missingKey) }
        guard let principal = admitted ?? authenticator.authenticate(key) else { return Self.authenticationError(.invalidKey) }
        guard !tasks.isEmpty else {
            return Self.render(Reply(errors: [APIErrorItem(code: .invalidRequest, message: "the request holds no task")]))
        }
        return Self.render(await run(tasks, principal: principal))
    }

    /// A request body or WebSocket message as its list of tasks (an array, or one task object),
    /// within the request limits; or the error that answers it.
    func parseTasks(_ bytes: [UInt8]) -> Result<[JSONValue], APIErrorItem> {
        let parsed: JSONValue
        do {
            // One more item than the cap: an authentication task may lead the array.
            parsed = try JSONParser.parse(
                bytes, maxTopLevelItems: limits.maxTasksPerRequest + 1, maxValues: max(10_000, limits.maxTasksPerRequest * 1_000))
        } catch {
            switch error.kind {
            case .tooManyItems:
                return .failure(tooManyTasks)
            case .tooManyValues(let limit):
                return .failure(APIErrorItem(
                    code: .invalidRequest, message: "the request holds more than \(limit) JSON values; send fewer or smaller tasks"))
            case .syntax:
                return .failure(APIErrorItem(code: .invalidJSON, message: "request body is not valid JSON: \(error)"))
            }
        }
        switch parsed {
        case .array(let items): return .success(items)
        case .object: return .success([parsed])
        default: return .failure(APIErrorItem(code: .invalidRequest, message: "the body must be a JSON array of tasks"))
        }
    }

    /// Runs a batch of tasks for an authenticated caller: the one path REST and WebSocket share
    /// (validation, idempotency, per-key limits, tenancy). Tasks succeed or fail independently.
    /// - Parameter annotate: adds to each accepted video task before it is stored (the OpenAI
    ///   API keeps its video's fields with the task).
    func run(_ tasks: [JSONValue], principal: Principal, annotate: (@Sendable (inout NewTask) -> Void)? = nil) async -> Reply {
        guard tasks.count <= limits.maxTasksPerRequest else { return Reply(errors: [tooManyTasks]) }
        var imageUploads = 0

        var reply = Reply()
        var pending: [(index: Int, task: NewTask)] = []
        var slots: [[ResultItem]?] = Array(repeating: nil, count: tasks.count)
        var inlineBytes: Int64 = 0
        var slotErrors: [APIErrorItem?] = Array(repeating: nil, count: tasks.count)

        for (index, value) in tasks.enumerated() {
            guard let task = value.object else {
                slotErrors[index] = APIErrorItem(code: .invalidTask, message: "each task must be a JSON object")
                continue
            }
            let taskType = task["taskType"]?.string
            let taskUUID = task["taskUUID"]?.string
            switch taskType {
            case "videoInference":
                switch prepare(task, principal: principal) {
                case .success(let (accepted, request)):
                    var newTask = accepted
                    annotate?(&newTask)
                    if let missing = await missingReference(request, principal: principal) {
                        slotErrors[index] = missing.on(taskType: taskType, taskUUID: taskUUID)
                    } else if let wait = rateLimiter.admit(principal.name, count: 1) {
                        slotErrors[index] = APIErrorItem(
                            code: .rateLimitExceeded, message: "this key may submit more tasks in \(Int(wait.rounded(.up))) s",
                            taskType: taskType, taskUUID: taskUUID)
                    } else {
                        pending.append((index, newTask))
                    }
                case .failure(let error): slotErrors[index] = error.on(taskType: taskType, taskUUID: taskUUID)
                }
            case "getResponse":
                do {
                    let (items, final) = try await getResponse(task, principal: principal)
                    if !final, let uuid = items.first?.fields["taskUUID"]?.string { reply.watching.append(uuid) }
                    // Inline videos are streamed, but one reply still carries only so many.
                    inlineBytes += items.reduce(0) { $0 + ($1.inline?.bytes ?? 0) }
                    guard inlineBytes <= limits.maxInlineResponseBytes else {
                        throw APIErrorItem(
                            code: .responseTooLarge,
                            message: "the inline videos asked for in this request exceed \(limits.maxInlineResponseBytes) bytes "
                                + "(server.maxInlineResponseBytes); poll fewer tasks per request, or use outputType URL")
                    }
                    slots[index] = items
                } catch let error as APIErrorItem {
                    slotErrors[index] = error.on(taskType: "getResponse", taskUUID: taskUUID)
                } catch {
                    slotErrors[index] = APIErrorItem(code: .internalError, message: "reading the task failed", taskType: taskType, taskUUID: taskUUID)
                }
            case "ping":
                slots[index] = [ResultItem(fields: ["taskType": "ping", "pong": true])]
            case "imageUpload":
                imageUploads += 1
                do {
                    guard imageUploads <= limits.maxImageUploadsPerRequest else {
                        throw APIErrorItem(
                            code: .tooManyImageUploads,
                            message: "a request may hold at most \(limits.maxImageUploadsPerRequest) imageUpload tasks (media.maxImageUploadsPerRequest)")
                    }
                    slots[index] = [ResultItem(fields: JSONMembers(try await imageUpload(task, principal: principal)))]
                } catch let error as APIErrorItem {
                    slotErrors[index] = error.on(taskType: taskType, taskUUID: taskUUID)
                } catch {
                    slotErrors[index] = APIErrorItem(code: .internalError, message: "storing the image failed", taskType: taskType, taskUUID: taskUUID)
                }
            case "authentication":
                slotErrors[index] = APIErrorItem(code: .invalidRequest, message: "authentication must be the first task", taskType: taskType)
            case nil:
                slotErrors[index] = APIErrorItem(code: .missing("taskType"), message: "taskType is required", parameter: .one("taskType"), taskUUID: taskUUID)
            case let other?:
                slotErrors[index] = APIErrorItem(
                    code: .unsupportedTaskType, message: "taskType \(APIErrorItem.echo(other)) is not supported", parameter: .one("taskType"),
                    taskType: APIErrorItem.echo(other), taskUUID: taskUUID, allowedValues: ["videoInference", "getResponse", "imageUpload", "ping"])
            }
        }

        // Disk full even after evicting expired media: refuse new work, keep serving the rest.
        if !pending.isEmpty, await !janitor.admit(now: Date().timeIntervalSince1970) {
            for (index, task) in pending {
                slotErrors[index] = APIErrorItem(
                    code: .insufficientStorage, message: "the gateway's media storage is full; retry later",
                    taskType: "videoInference", taskUUID: task.uuid)
            }
            pending = []
        }

        // One durable batch for every accepted task; ACK only after it committed.
        if !pending.isEmpty {
            do {
                let outcomes = try await store.submit(pending.map(\.task))
                var created = 0
                for ((index, task), outcome) in zip(pending, outcomes) {
                    switch outcome {
                    case .created, .duplicate:
                        if outcome == .created { created += 1 }
                        // A resubmission (an SDK after a reconnect) of a task that already finished
                        // is answered with its results at once, not only its ACK.
                        if outcome == .duplicate, let record = try? await store.find(task.uuid), record.state.resultsAreFinal {
                            reply.finished.append(task.uuid)
                        } else {
                            reply.watching.append(task.uuid)
                        }
                        slots[index] = [ResultItem(fields: ["taskType": "videoInference", "taskUUID": .string(task.uuid)])]
                    case .tooManyInFlight:
                        slotErrors[index] = APIErrorItem(
                            code: .tooManyTasksInFlight, message: "this key has its maximum of unfinished tasks; retry when some finish",
                            taskType: "videoInference", taskUUID: task.uuid)
                    case .conflict:
                        slotErrors[index] = APIErrorItem(
                            code: .conflictTaskUUID, message: "taskUUID \(task.uuid) was already used for a different task",
                            parameter: .one("taskUUID"), taskType: "videoInference", taskUUID: task.uuid)
                    }
                }
                if created > 0 { workers.notifyNewWork(count: created) }
            } catch {
                logger.error("storing tasks failed", ["error": "\(error)"])
                for (index, task) in pending {
                    slotErrors[index] = APIErrorItem(
                        code: .serviceUnavailable, message: "the task could not be stored; retry with the same taskUUID",
                        taskType: "videoInference", taskUUID: task.uuid)
                }
            }
        }

        for index in tasks.indices {
            if let items = slots[index] { reply.data += items }
            if let error = slotErrors[index] { reply.errors.append(error) }
        }
        return reply
    }

    private var tooManyTasks: APIErrorItem {
        APIErrorItem(
            code: .tooManyTasks,
            message: "a request may hold at most \(limits.maxTasksPerRequest) tasks (server.maxTasksPerRequest); send the rest in another request")
    }

    // MARK: videoInference

    /// A referenced upload or earlier video that does not exist (or belongs to another key), or
    /// an outbound URL whose host resolves where it must not (SPEC §7, checked at submit).
    private func missingReference(_ request: VideoInferenceRequest, principal: Principal) async -> APIErrorItem? {
        var urls: [(String, String)] = []
        if let url = request.webhookURL { urls.append((url, "webhookURL")) }
        if let url = request.uploadEndpoint { urls.append((url, "uploadEndpoint")) }
        for (i, image) in request.inputs.referenceImages.enumerated() { if case .url(let u) = image { urls.append((u, "inputs.referenceImages[\(i)]")) } }
        if case .url(let u)? = request.inputs.frameImage?.image { urls.append((u, "inputs.frameImages[0].image")) }
        if let video = request.inputs.video, !VideoInferenceValidator.isUUID(video) { urls.append((video, "inputs.video")) }
        for (url, parameter) in urls {
            do {
                _ = try await urlGuard.check(url)
            } catch {
                return URLGuard.apiError(error, parameter: parameter)
            }
        }
        var images: [(String, String)] = request.inputs.referenceImages.enumerated().map { ($1.uploadedUUID, "inputs.referenceImages[\($0)]") }
            .compactMap { uuid, parameter in uuid.map { ($0, parameter) } }
        if let uuid = request.inputs.frameImage?.image.uploadedUUID { images.append((uuid, "inputs.frameImages[0].image")) }
        for (uuid, parameter) in images {
            let image = try? await store.image(uuid)
            guard let image, principal.isOps || image.keyName == principal.name else {
                return APIErrorItem(code: .imageNotFound, message: "no uploaded image \(uuid); upload it with imageUpload first", parameter: .one(parameter))
            }
        }
        // Earlier results, by videoId (an edit) or as the input video: only the key's own.
        var videos: [(String, String)] = []
        if let videoId = request.inputs.videoId { videos.append((videoId, "inputs.videoId")) }
        if let video = request.inputs.video, VideoInferenceValidator.isUUID(video) { videos.append((video, "inputs.video")) }
        for (videoUUID, parameter) in videos {
            guard let (_, taskUUID) = try? await store.findResult(videoUUID), let owner = try? await store.find(taskUUID),
                principal.isOps || owner.apiKeyName == principal.name
            else {
                return APIErrorItem(code: .videoNotFound, message: "no earlier result with videoUUID \(videoUUID)", parameter: .one(parameter))
            }
        }
        return nil
    }

    private func prepare(_ task: [String: JSONValue], principal: Principal) -> Result<(NewTask, VideoInferenceRequest), APIErrorItem> {
        switch validator.validate(task) {
        case .failure(let error): return .failure(error)
        case .success(let request):
            // The stored form is the canonical task: same body ⇔ same hash, whatever the key order.
            var canonical = task
            canonical["taskUUID"] = .string(request.taskUUID)
            let json = JSONValue.object(canonical).serialized()
            guard json.utf8.count <= limits.maxStoredRequestBytes else {
                return .failure(APIErrorItem(
                    code: .requestTooLarge,
                    message: "this task is \(json.utf8.count) bytes, over the \(limits.maxStoredRequestBytes) a task may be "
                        + "(server.maxStoredRequestBytes); upload large images with imageUpload and pass their imageUUID"))
            }
            let seedBase = Int64.random(in: 1...Int64(Int32.max))
            return .success((NewTask(
                uuid: request.taskUUID, apiKeyName: principal.name, model: request.model, requestJSON: json,
                requestHash: Crypto.hex(Crypto.sha256(json)), format: request.outputFormat.rawValue,
                seeds: (0..<request.numberResults).map { request.seed(forResult: $0, fallback: seedBase) },
                videoUUIDs: (0..<request.numberResults).map { _ in TimeOrderedUUID.make(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000)) },
                parentVideoUUID: request.inputs.videoId, maxInFlight: maxInFlight[principal.name]), request))
        }
    }

    // MARK: getResponse

    /// The task's items, and whether they are final; inline videos are only described here, and
    /// read while the reply is sent.
    private func getResponse(_ task: [String: JSONValue], principal: Principal) async throws -> ([ResultItem], Bool) {
        let uuid = try VideoInferenceValidator.taskUUID(task)
        guard let record = try await store.find(uuid), principal.isOps || record.apiKeyName == principal.name else {
            throw APIErrorItem(code: .taskNotFound, message: "no task with taskUUID \(uuid)", parameter: .one("taskUUID"))
        }
        return (await ResultItems.staged(ResultItems.items(for: record, media: media), media: media), record.state.resultsAreFinal)
    }

    // MARK: imageUpload

    private func imageUpload(_ task: [String: JSONValue], principal: Principal) async throws -> [String: JSONValue] {
        let taskUUID = try VideoInferenceValidator.taskUUID(task)
        guard let image = task["image"]?.string, !image.isEmpty else {
            throw APIErrorItem(code: .missing("image"), message: "image is required (data URI or base64)", parameter: .one("image"))
        }
        // An upload is written to the key's storage like a task: rate-limited and budgeted.
        if let wait = rateLimiter.admit(principal.name, count: 1) {
            throw APIErrorItem(code: .rateLimitExceeded, message: "this key may upload more in \(Int(wait.rounded(.up))) s")
        }
        var base64 = Substring(image)
        if image.hasPrefix("data:"), let comma = image.firstIndex(of: ",") { base64 = image[image.index(after: comma)...] }
        guard let data = Data(base64Encoded: String(base64), options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw APIErrorItem(code: .invalid("image"), message: "image must be a data URI or base64 (URLs are passed in tasks directly)", parameter: .one("image"))
        }
        return ["taskType": "imageUpload", "taskUUID": .string(taskUUID), "imageUUID": .string(try await storeImage(data, principal: principal))]
    }

    /// Removes an image stored for a task that was then refused: nothing else would use it.
    func removeImage(_ imageUUID: String) async {
        guard let image = try? await store.image(imageUUID) else { return }
        await janitor.removeNow(image: image)
    }

    /// Stores an uploaded image for the key (in the bucket with an s3 store, else on disk within
    /// the media budget) and returns its imageUUID.
    func storeImage(_ data: Data, principal: Principal, parameter: String = "image") async throws -> String {
        guard data.count <= VideoInferenceValidator.maxImageBytes else {
            throw APIErrorItem(code: .invalid("image"), message: "images may be at most 20 MB", parameter: .one(parameter))
        }
        guard let mime = ImageSniffer.kind(of: data) else {
            throw APIErrorItem(code: .invalid("image"), message: "an image must be png, jpeg or webp", parameter: .one(parameter))
        }
        let imageUUID = UUID().uuidString.lowercased()
        if let objects = media.objects {
            // With an s3 store the image goes to the bucket too: any instance may process the
            // task that uses it. (The disk budget is the local store's.)
            let key = objects.key(file: "images/\(imageUUID)")
            let scratch = "\(media.directory)/.image-\(imageUUID)"
            defer { unlink(scratch) }
            do {
                try await BlockingIO.run { try data.write(to: URL(fileURLWithPath: scratch), options: .atomic) }
                try await objects.upload(file: scratch, key: key, contentType: mime)
            } catch {
                logger.error("storing an uploaded image in the object store failed", ["error": "\(error)"])
                throw APIErrorItem(code: .serviceUnavailable, message: "the media store is unavailable; retry later")
            }
            do {
                try await store.storeImage(UploadedImage(
                    uuid: imageUUID, keyName: principal.name, path: ObjectMedia.storedPath(key: key), mime: mime, bytes: data.count,
                    expiresAt: Date().timeIntervalSince1970 + limits.imageTTLSeconds))
            } catch {
                try? await objects.delete(key: key)  // not recorded, so never swept: it goes now
                throw error
            }
            return imageUUID
        }
        // Its size is taken from the media budget before the file is written.
        guard await janitor.reserve(bytes: Int64(data.count), now: Date().timeIntervalSince1970) else {
            throw APIErrorItem(code: .insufficientStorage, message: "the gateway's media storage is full; retry later")
        }
        let directory = "\(media.directory)/images"
        let path = "\(directory)/\(imageUUID)"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try await DurableFile.write(data, to: path)  // durable before it is recorded
            try await store.storeImage(UploadedImage(
                uuid: imageUUID, keyName: principal.name, path: path, mime: mime, bytes: data.count,
                expiresAt: Date().timeIntervalSince1970 + limits.imageTTLSeconds))
        } catch {
            janitor.release(bytes: Int64(data.count))
            unlink(path)
            throw error
        }
        return imageUUID
    }

    // MARK: Rendering

    enum AuthenticationFailure: Equatable {
        case missingKey, invalidKey, missingKeyWithExpect
        case missingKeyForLargeBody(Int)
        case missingKeyOnSocket
    }

    /// The Runware answer to a request without a usable key (runware.md §2.2).
    static func authenticationError(_ failure: AuthenticationFailure) -> HTTPResponse {
        render(Reply(errors: [authenticationErrorItem(failure)]))
    }

    /// The error item for a missing or bad key: `taskType: "authentication"`, which is how both
    /// SDKs recognise an authentication failure (over WebSocket too).
    static func authenticationErrorItem(_ failure: AuthenticationFailure) -> APIErrorItem {
        let (code, message): (APIErrorCode, String) = switch failure {
        case .missingKey: (.missingApiKey, "an API key is required: Authorization: Bearer <key>")
        case .invalidKey: (.invalidApiKey, "the API key is not valid")
        case .missingKeyWithExpect: (.missingApiKey, "an API key is required before the body is sent: Authorization: Bearer <key>")
        case .missingKeyForLargeBody(let limit):
            (.missingApiKey, "without an Authorization header at most \(limit) bytes of body are read; send the key as Authorization: Bearer <key>")
        case .missingKeyOnSocket:
            (.missingApiKey, "authenticate first: send [{\"taskType\":\"authentication\",\"apiKey\":\"<key>\"}]")
        }
        return APIErrorItem(code: code, message: message, parameter: .one("apiKey"), taskType: "authentication")
    }

    static func render(_ reply: Reply) -> HTTPResponse {
        let status = reply.errors.first.map { HTTPStatus($0.status) } ?? .ok
        var response = HTTPResponse(
            status: status, headers: HTTPHeaders([("Content-Type", "application/json")]),
            body: ReplyBody(data: reply.data, errors: reply.errors.map(\.json)).httpBody)
        if status.code == 429 || status.code == 503 { response.headers.add(name: "Retry-After", value: "1") }
        return response
    }
}
