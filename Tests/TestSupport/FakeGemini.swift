import Domain
import Foundation
import HTTP1
import HTTPServer
import Synchronization

/// A Gemini Interactions API stand-in speaking its wire format (upstreams.md §1–§2): create,
/// get, cancel; `steps[]` or flat `outputs[]`; inline base64 or `uri` delivery through a Files
/// API download that redirects to storage; both error shapes; scripted faults.
public final class FakeGemini: Sendable {
    public enum Fault: Sendable {
        /// An HTTP error with a body (Interactions `{"error":{code:string}}` or google.rpc).
        case status(Int, body: String, headers: [(String, String)] = [])
        /// Never answers within any sane timeout.
        case hang
        /// A 200 whose body is not JSON.
        case garbage

        /// What a fake answers when this fault is due.
        public func response() async -> HTTPResponse {
            switch self {
            case .status(let code, let body, let headers):
                var response = HTTPResponse.jsonBytes(Array(body.utf8), status: HTTPStatus(code))
                for (name, value) in headers { response.headers.add(name: name, value: value) }
                return response
            case .hang:
                try? await Task.sleep(for: .seconds(60))
                return .text(.ok, "late")
            case .garbage:
                return HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "application/json")]), bytes: Array("<html>oops".utf8))
            }
        }
    }

    public struct Settings: Sendable {
        public var apiKey = "fake-gemini-key"
        /// Polls answering `in_progress` before `completed`.
        public var pollsBeforeDone = 1
        public var delivery = "inline"
        /// Answer with the legacy flat `outputs[]` instead of `steps[]`.
        public var flatOutputs = false
        /// A completed interaction instead fails with this message in its model_output step.
        public var failWith: String?
        /// Where the Files download redirects to (another origin, like Google's storage); this
        /// fake's own `/storage/` when nil.
        public var storageBaseURL: String?
        /// Random faults per request (seeded): 5xx, 429 with Retry-After, hang, garbage.
        public var chaos: (error5xx: Double, rateLimited: Double, hang: Double, garbage: Double)?
        public init() {}
    }

    public struct Recorded: Sendable {
        public let method: String
        public let path: String
        public let headers: HTTPHeaders
        public let body: [UInt8]
        public let at: Double
    }

    private struct State {
        var interactions: [String: (status: String, polls: Int)] = [:]
        var maxInProgress = 0
        var uploads: [String: (mime: String, bytes: [UInt8], polls: Int)] = [:]
        var nextUpload = 1
        var rng = SplitMix(seed: 42)
        var next = 1
        var log: [Recorded] = []
        var faults: [Fault] = []
    }

    public let video: [UInt8]
    private let settings: Mutex<Settings>
    private let state = Mutex(State())
    public let server: HTTPServer
    public var baseURL: String { "http://127.0.0.1:\(server.port)" }

    public init(settings: Settings = Settings(), video: [UInt8]) throws {
        self.settings = Mutex(settings)
        self.video = video
        let router = RouterBuilder()
        let box = Mutex<FakeGemini?>(nil)
        // A fake's answers can be megabytes of JSON built in a debug build: off the event loop, so
        // they never hold up the loop's other connections (other tests' servers among them).
        // A request's time is taken here, on the loop as it is routed, not after the hop off it:
        // a test timing requests (a rate budget) must not see them bunched by that hop.
        let handle: Router.Handler = { request in
            let arrived = Date().timeIntervalSince1970
            return await offLoop { await box.withLock { $0 }!.handle(request, arrived: arrived) }
        }
        for method in ["GET", "POST"] {
            router.add(method, "/:version/interactions", handle)
            router.add(method, "/:version/interactions/:id", handle)
            router.add(method, "/:version/interactions/:id/cancel", handle)
            router.add(method, "/:version/files/:file", handle)
            router.add(method, "/storage/:id", handle)
            router.add(method, "/upload/:version/files", handle)
        }
        server = HTTPServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: router.build())
        box.withLock { $0 = self }
        try server.start()
    }

    public func update(_ change: (inout Settings) -> Void) { settings.withLock { change(&$0) } }

    /// Faults answered, in order, to the next requests (before normal handling).
    public func inject(_ faults: [Fault]) { state.withLock { $0.faults += faults } }

    public var requests: [Recorded] { state.withLock { $0.log } }
    /// Files uploaded through the resumable Files API, by name (`files/upN`).
    public var uploads: [String: (mime: String, bytes: [UInt8])] { state.withLock { $0.uploads.mapValues { ($0.mime, $0.bytes) } } }

    /// The most interactions that were in progress at once.
    public var maxInProgress: Int { state.withLock { $0.maxInProgress } }
    public var creates: [Recorded] { requests.filter { $0.method == "POST" && $0.path.hasSuffix("/interactions") } }

    private func handle(_ request: Request, arrived: Double) async -> HTTPResponse {
        let chaos = settings.withLock { $0.chaos }
        let fault: Fault? = state.withLock { s in
            s.log.append(Recorded(method: request.method, path: request.path, headers: request.headers, body: request.body, at: arrived))
            if !s.faults.isEmpty { return s.faults.removeFirst() }
            guard let chaos, !request.path.hasPrefix("/storage/") else { return nil }
            let roll = s.rng.next()
            if roll < chaos.error5xx { return .status(503, body: #"{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}"#) }
            if roll < chaos.error5xx + chaos.rateLimited {
                return .status(429, body: #"{"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#, headers: [("Retry-After", "0")])
            }
            if roll < chaos.error5xx + chaos.rateLimited + chaos.hang { return .hang }
            if roll < chaos.error5xx + chaos.rateLimited + chaos.hang + chaos.garbage { return .garbage }
            return nil
        }
        if let fault { return await fault.response() }
        let settings = self.settings.withLock { $0 }
        if request.path.hasPrefix("/storage/") {
            return HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "video/mp4")]), bytes: video)
        }
        // The upload hop of a resumable upload is authorised by its upload id, not the key (the SDK
        // does not send it there); everything else needs the key.
        let uploadHop = request.path.hasPrefix("/upload/") && request.queryParameters["upload_id"] != nil
        guard uploadHop || request.headers["x-goog-api-key"] == settings.apiKey else {
            return error(401, "authentication", "API key not valid. Please pass a valid API key.")
        }
        let id = request.pathParameters["id"] ?? ""
        if request.path.hasPrefix("/upload/") { return upload(request) }
        if let file = request.pathParameters["file"], !file.hasSuffix(":download") {
            // File metadata: uploaded videos are PROCESSING for one poll, then ACTIVE.
            let entry: (mime: String, bytes: Int, state: String)? = state.withLock { s in
                guard var upload = s.uploads["files/\(file)"] else { return nil }
                upload.polls += 1
                s.uploads["files/\(file)"] = upload
                return (upload.mime, upload.bytes.count, upload.mime.hasPrefix("video/") && upload.polls < 2 ? "PROCESSING" : "ACTIVE")
            }
            guard let entry else { return error(404, "not_found", "no file \(file)") }
            return .jsonBytes(Array(fileJSON(name: "files/\(file)", mime: entry.mime, size: entry.bytes, state: entry.state).utf8))
        }
        if let file = request.pathParameters["file"] {
            var redirect = HTTPResponse(status: HTTPStatus(302))
            redirect.headers.add(name: "Location", value: "\(settings.storageBaseURL ?? baseURL)/storage/\(file.dropLast(9))")
            return redirect
        }
        if request.method == "POST", request.path.hasSuffix("/interactions") {
            guard let body = try? JSONParser.parse(request.body), body["model"]?.string != nil, body["input"] != nil else {
                return error(400, "invalid_request", "model and input are required")
            }
            let newID = state.withLock { s -> String in
                let id = "v1_fake\(s.next)"
                s.next += 1
                s.interactions[id] = ("in_progress", 0)
                s.maxInProgress = max(s.maxInProgress, s.interactions.values.filter { $0.status == "in_progress" }.count)
                return id
            }
            return .jsonBytes(Array(#"{"id":"\#(newID)","status":"in_progress","object":"interaction"}"#.utf8))
        }
        if request.method == "POST", request.path.hasSuffix("/cancel") {
            let known = state.withLock { s -> Bool in
                guard s.interactions[id] != nil else { return false }
                s.interactions[id]!.status = "cancelled"
                return true
            }
            return known ? .jsonBytes(Array(#"{"id":"\#(id)","status":"cancelled","object":"interaction"}"#.utf8))
                : error(404, "not_found", "interaction \(id) not found")
        }
        // GET an interaction.
        let current: (status: String, polls: Int)? = state.withLock { s in
            guard var entry = s.interactions[id] else { return nil }
            entry.polls += 1
            if entry.status == "in_progress", entry.polls > settings.pollsBeforeDone { entry.status = "completed" }
            s.interactions[id] = entry
            return entry
        }
        guard let current else { return error(404, "not_found", "interaction \(id) not found") }
        guard current.status == "completed" else {
            return .jsonBytes(Array(#"{"id":"\#(id)","status":"\#(current.status)","object":"interaction"}"#.utf8))
        }
        if let message = settings.failWith {
            let body = #"{"id":"\#(id)","status":"failed","object":"interaction","steps":[{"type":"model_output","content":[],"error":{"code":3,"message":\#(JSONText.quote(message))}}]}"#
            return .jsonBytes(Array(body.utf8))
        }
        let block = settings.delivery == "uri"
            ? #"{"type":"video","mime_type":"video/mp4","uri":"https://generativelanguage.googleapis.com/v1beta/files/\#(Self.fileID(id)):download?alt=media"}"#
            : #"{"type":"video","mime_type":"video/mp4","data":"\#(Data(video).base64EncodedString())"}"#
        let body = settings.flatOutputs
            ? #"{"id":"\#(id)","status":"completed","object":"interaction","outputs":[\#(block)]}"#
            : #"{"id":"\#(id)","status":"completed","object":"interaction","steps":[{"type":"user_input","content":[{"type":"text","text":"x"}]},{"type":"thought","summary":[{"type":"text","text":"planning"}]},{"type":"model_output","content":[\#(block)]}],"usage":{"total_tokens":479}}"#
        return .jsonBytes(Array(body.utf8))
    }

    /// The resumable upload: `start` answers with an absolute upload URL; `upload, finalize` with
    /// `x-goog-upload-status: final` and the file resource (upstreams.md §2).
    private func upload(_ request: Request) -> HTTPResponse {
        let command = request.headers["x-goog-upload-command"] ?? ""
        if command == "start" {
            guard request.headers["x-goog-upload-protocol"] == "resumable" else { return error(400, "invalid_request", "resumable uploads only") }
            let mime = request.headers["x-goog-upload-header-content-type"] ?? "application/octet-stream"
            let number = state.withLock { s -> Int in
                defer { s.nextUpload += 1 }
                s.uploads["files/up\(s.nextUpload)"] = (mime, [], 0)
                return s.nextUpload
            }
            var response = HTTPResponse.jsonBytes(Array("{}".utf8))
            response.headers.add(name: "x-goog-upload-url", value: "\(baseURL)/upload/v1beta/files?upload_id=\(number)")
            response.headers.add(name: "x-goog-upload-status", value: "active")
            return response
        }
        guard command.contains("finalize"), let number = request.queryParameters["upload_id"] else {
            return error(400, "invalid_request", "expected upload, finalize with an upload_id")
        }
        let name = "files/up\(number)"
        let mime: String? = state.withLock { s in
            guard var entry = s.uploads[name] else { return nil }
            entry.bytes = request.body
            s.uploads[name] = entry
            return entry.mime
        }
        guard let mime else { return error(404, "not_found", "unknown upload") }
        let initial = mime.hasPrefix("video/") ? "PROCESSING" : "ACTIVE"
        var response = HTTPResponse.jsonBytes(Array(#"{"file":\#(fileJSON(name: name, mime: mime, size: request.body.count, state: initial))}"#.utf8))
        response.headers.add(name: "x-goog-upload-status", value: "final")
        return response
    }

    private func fileJSON(name: String, mime: String, size: Int, state: String) -> String {
        let id = name.dropFirst(6)
        return #"{"name":"\#(name)","displayName":"input","mimeType":"\#(mime)","sizeBytes":"\#(size)","uri":"https://generativelanguage.googleapis.com/v1beta/files/\#(id)","state":"\#(state)","source":"UPLOADED"}"#
    }

    /// Files API ids are lower-case letters and digits (the SDK's download parser insists).
    static func fileID(_ interaction: String) -> String {
        "vid" + interaction.filter { $0.isNumber }
    }

    private func error(_ status: Int, _ code: String, _ message: String) -> HTTPResponse {
        .jsonBytes(Array(#"{"error":{"code":"\#(code)","message":\#(JSONText.quote(message))}}"#.utf8), status: HTTPStatus(status))
    }
}

/// A small seeded generator, so chaos runs repeat.
struct SplitMix: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}
