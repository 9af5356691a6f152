import Domain
import Foundation
import HTTP1
import HTTPServer
import Synchronization

/// What the fake upstreams share: a server, a request log, scripted faults, served videos.
public class FakeUpstream: @unchecked Sendable {
    public struct Recorded: Sendable {
        public let method: String
        public let path: String
        public let headers: HTTPHeaders
        public let body: [UInt8]
    }

    let state = Mutex<(log: [Recorded], faults: [FakeGemini.Fault], polls: [String: Int], next: Int)>(([], [], [:], 1))
    public let video: [UInt8]
    public let key: String
    /// Polls that answer "still running" before a job completes.
    public let pollsBeforeDone = Mutex(1)
    /// When set, jobs end in failure with this message.
    public let failWith = Mutex<String?>(nil)
    /// When set, result downloads hang (until the client goes away); `mediaRequests` counts them.
    public let holdMedia = Mutex(false)
    public let mediaRequests = Atomic<Int>(0)
    public private(set) var server: HTTPServer!
    public var baseURL: String { "http://127.0.0.1:\(server.port)" }

    init(key: String, video: [UInt8]) {
        self.key = key
        self.video = video
    }

    func start(_ configure: (RouterBuilder, @escaping Router.Handler) -> Void) throws {
        let router = RouterBuilder()
        // Off the event loop, as in FakeGemini: a debug build's big answers must not hold it up.
        // Weak: a gateway a test has not stopped yet may still call a fake the test has let go.
        let handler: Router.Handler = { [weak self] request in
            guard let self else { return .text(.serviceUnavailable, "gone") }
            return await offLoop { await self.dispatch(request) }
        }
        router.get("/media/:file") { [weak self, video] _ in
            self?.mediaRequests.add(1, ordering: .relaxed)
            // Held until the test lets go (at most a minute).
            let until = ContinuousClock.now + .seconds(60)
            while self?.holdMedia.withLock({ $0 }) == true, ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(10)) }
            return HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "video/mp4")]), bytes: video)
        }
        configure(router, handler)
        server = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        try server.start()
    }

    public var requests: [Recorded] { state.withLock { $0.log } }
    public func inject(_ faults: [FakeGemini.Fault]) { state.withLock { $0.faults += faults } }

    private func dispatch(_ request: Request) async -> HTTPResponse {
        let fault: FakeGemini.Fault? = state.withLock { s in
            s.log.append(Recorded(method: request.method, path: request.path, headers: request.headers, body: request.body))
            return s.faults.isEmpty ? nil : s.faults.removeFirst()
        }
        if let fault { return await fault.response() }
        return handle(request)
    }

    func handle(_ request: Request) -> HTTPResponse { .text(.notFound, "") }

    func newID() -> Int { state.withLock { s in defer { s.next += 1 }; return s.next } }

    /// Counts a poll of `id`; true once the job is done.
    func pollDone(_ id: String) -> Bool {
        let limit = pollsBeforeDone.withLock { $0 }
        return state.withLock { s in
            s.polls[id, default: 0] += 1
            return s.polls[id]! > limit
        }
    }

    static func json(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
        .jsonBytes(Array(value.serialized().utf8), status: HTTPStatus(status))
    }
}

/// fal's queue API (upstreams.md §6).
public final class FakeFal: FakeUpstream, @unchecked Sendable {
    public init(video: [UInt8], key: String = "fal-key") throws {
        super.init(key: key, video: video)
        try start { router, handler in
            router.add("POST", "/:owner/:app/:endpoint", handler)
            router.add("GET", "/:owner/:app/requests/:id/status", handler)
            router.add("GET", "/:owner/:app/requests/:id", handler)
            router.add("PUT", "/:owner/:app/requests/:id/cancel", handler)
        }
    }

    override func handle(_ request: Request) -> HTTPResponse {
        guard request.headers["authorization"] == "Key \(key)" else {
            return Self.json(["detail": "Invalid API key"], status: 401)
        }
        let p = request.pathParameters
        let app = "\(baseURL)/\(p["owner"] ?? "")/\(p["app"] ?? "")"
        if request.method == "POST" {
            guard let body = try? JSONParser.parse(request.body), body["prompt"]?.string != nil else {
                return Self.json(["detail": [["loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"]]], status: 422)
            }
            let id = "req\(newID())"
            return Self.json(["request_id": .string(id), "gateway_request_id": .string(id), "status": "IN_QUEUE", "queue_position": 0,
                              "status_url": .string("\(app)/requests/\(id)/status"), "response_url": .string("\(app)/requests/\(id)"),
                              "cancel_url": .string("\(app)/requests/\(id)/cancel")])
        }
        let id = p["id"] ?? ""
        if request.method == "PUT" { return Self.json(["status": "CANCELLATION_REQUESTED"], status: 202) }
        if request.path.hasSuffix("/status") {
            return pollDone(id) ? Self.json(["status": "COMPLETED", "metrics": ["inference_time": 1.5]])
                : Self.json(["status": "IN_PROGRESS", "logs": []], status: 202)
        }
        if let message = failWith.withLock({ $0 }) { return Self.json(["detail": .string(message)], status: 422) }
        return Self.json(["video": ["url": .string("\(baseURL)/media/\(id).mp4"), "content_type": "video/mp4", "file_size": .int(Int64(video.count))]])
    }
}

/// A Runware REST endpoint (runware.md): task arrays in, `{data}`/`{errors}` out.
public final class FakeRunware: FakeUpstream, @unchecked Sendable {
    private let tasks = Mutex<[String: Int]>([:])

    public init(video: [UInt8], key: String = "runware-key") throws {
        super.init(key: key, video: video)
        try start { router, handler in router.add("POST", "/v1", handler) }
    }

    override func handle(_ request: Request) -> HTTPResponse {
        guard request.headers["authorization"] == "Bearer \(key)" else {
            return Self.json(["errors": [["code": "invalidApiKey", "message": "Invalid API key", "parameter": "apiKey", "taskType": "authentication"]]],
                             status: 401)
        }
        guard let task = (try? JSONParser.parse(request.body))?.array?.first, let uuid = task["taskUUID"]?.string else {
            return Self.json(["errors": [["code": "invalidRequest", "message": "expected an array of tasks"]]], status: 400)
        }
        switch task["taskType"]?.string {
        case "videoInference":
            let inserted = tasks.withLock { t -> Bool in
                guard t[uuid] == nil else { return false }
                t[uuid] = Int(task["numberResults"]?.integer ?? 1)
                return true
            }
            guard inserted else {
                return Self.json(["errors": [["code": "conflictTaskUUID", "message": "taskUUID already used", "parameter": "taskUUID",
                                              "taskType": "videoInference", "taskUUID": .string(uuid)]]], status: 400)
            }
            return Self.json(["data": [["taskType": "videoInference", "taskUUID": .string(uuid)]]])
        case "getResponse":
            guard let count = tasks.withLock({ $0[uuid] }) else {
                return Self.json(["errors": [["code": "taskNotFound", "message": "no task", "taskType": "getResponse", "taskUUID": .string(uuid)]]], status: 404)
            }
            let done = pollDone(uuid)
            let failure = failWith.withLock { $0 }
            let items: [JSONValue] = (0..<count).map { i in
                var item: [String: JSONValue] = ["taskType": "videoInference", "taskUUID": .string(uuid), "videoUUID": .string("\(uuid.prefix(8))-\(i)")]
                if !done {
                    item["status"] = "processing"
                    item["progress"] = 40
                } else if let failure {
                    item["status"] = "error"
                    item["error"] = ["code": "contentPolicyViolation", "message": .string(failure)]
                } else {
                    item["status"] = "success"
                    item["videoURL"] = .string("\(baseURL)/media/\(uuid)-\(i).mp4")
                    item["cost"] = 0.25
                }
                return .object(item)
            }
            return Self.json(["data": .array(items)])
        default:
            return Self.json(["errors": [["code": "unsupportedTaskType", "message": "no", "taskUUID": .string(uuid)]]], status: 400)
        }
    }
}

/// The `gemini-omni-flash-image-to-video` task API (taskapi.md).
public final class FakeTaskAPI: FakeUpstream, @unchecked Sendable {
    public init(video: [UInt8], key: String = "taskapi-key") throws {
        super.init(key: key, video: video)
        try start { router, handler in
            router.add("POST", "/v1/videos/generations", handler)
            router.add("GET", "/v1/tasks/:id", handler)
        }
    }

    override func handle(_ request: Request) -> HTTPResponse {
        guard request.headers["authorization"] == "Bearer \(key)" else {
            return Self.json(["error": ["code": "unauthorized", "message": "Invalid token", "type": "authentication_error"]], status: 401)
        }
        if request.method == "POST" {
            guard let body = try? JSONParser.parse(request.body), body["prompt"]?.string != nil else {
                return Self.json(["error": ["code": "invalid_parameter", "message": "prompt is required", "type": "invalid_request_error", "param": "prompt"]],
                                 status: 400)
            }
            let id = "task-unified-\(1_757_169_743 + newID())-fake"
            return Self.json(["created": 1_757_169_743, "id": .string(id), "model": body["model"] ?? "", "object": "video.generation.task",
                              "progress": 0, "status": "pending", "task_info": ["can_cancel": true], "type": "video", "usage": [:]])
        }
        let id = request.pathParameters["id"] ?? ""
        guard id.hasPrefix("task-unified-") else {
            return Self.json(["error": ["code": "invalid_task_id", "message": "Invalid task ID format, must start with 'task-unified-'",
                                        "type": "invalid_request_error", "param": "task_id"]], status: 400)
        }
        guard pollDone(id) else { return Self.json(["id": .string(id), "status": "processing", "progress": 60, "object": "video.generation.task"]) }
        if let message = failWith.withLock({ $0 }) {
            return Self.json(["id": .string(id), "status": "failed", "progress": 100,
                              "error": ["code": "generation_failed", "message": .string(message), "type": "upstream_error"]])
        }
        return Self.json(["id": .string(id), "status": "completed", "progress": 100, "object": "video.generation.task",
                          "results": [.string("\(baseURL)/media/\(id).mp4")], "task_info": ["can_cancel": false], "type": "video"])
    }
}
