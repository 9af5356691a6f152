import Domain
import Store
import Foundation
import HTTP1
import HTTPServer

/// The ops API (SPEC §4): one task in full, a filtered page of tasks, and cancel.
/// Client keys see only their own tasks; another key's task is a 404, not a 403, so task ids
/// cannot be probed.
struct OpsRoutes: Sendable {
    let store: any TaskStore
    let media: MediaStore
    let identity: CallerIdentity
    let canceller: TaskCanceller
    let deliveries: DeliveryWorker
    let redeliveries: RedeliveryLimiter
    let views = FinishedTaskViews()

    func register(on http: RouterBuilder) {
        http.add("GET", "/v1/tasks/:id") { request in try await show(visibleTask(request, identity.principal(request))) }
        http.add("GET", "/v1/tasks") { request in try await list(request, identity.principal(request)) }
        http.add("POST", "/v1/tasks/:id/cancel") { request in try await cancel(visibleTask(request, identity.principal(request))) }
        http.add("POST", "/v1/tasks/:id/redeliver") { request in
            let principal = try await identity.principal(request)
            return try await redeliver(visibleTask(request, principal), by: principal)
        }
        http.add("GET", "/v1/videos/:id/lineage") { request in try await lineage(request, identity.principal(request)) }
    }

    /// The task the path names, if the key may see it: another key's task is a 404, as an
    /// unknown one is.
    private func visibleTask(_ request: Request, _ principal: Principal) async throws -> TaskRecord {
        let uuid = (request.pathParameters["id"] ?? "").lowercased()
        guard let task = try await store.find(uuid), principal.isOps || task.apiKeyName == principal.name else {
            throw APIError(.taskNotFound, "no task \(APIErrorItem.echo(uuid))")
        }
        return task
    }

    private func show(_ task: TaskRecord) async throws -> HTTPResponse {
        let history = try await store.history(of: task)
        let linkBase = media.publicURL.current
        if let bytes = views.view(of: task, history: history, linkBase: linkBase) { return .jsonBytes(bytes) }
        var body = summary(task)
        let requestJSON = task.requestJSON
        let parse = { try? JSONParser.parse(requestJSON) }
        // A task that carries inline images is megabytes of JSON: not parsed on the event loop.
        let request = requestJSON.utf8.count > TaskAPI.offLoopBodyBytes ? await offLoop { parse() } : parse()
        body["request"] = request.map(Self.forDisplay) ?? .null
        let items = ResultItems.items(for: task, request: request?.object ?? [:], media: media, links: false)
        body["results"] = .array(items.enumerated().map { index, item in
            var o = item.fields.dictionary
            let result = task.results[index]
            o["state"] = .string(result.state.rawValue)
            if let bytes = result.mediaBytes { o["bytes"] = .int(bytes) }
            if let expires = result.expiresAt { o["expiresAt"] = .double(expires) }
            // Ops get a link even when the client asked for inline video, and the console a path
            // on this server (a bucket's presigned link or another public host is not its origin).
            if result.state == .ready, result.mediaPath != nil, let expires = result.expiresAt {
                let links = media.signedLinks(videoUUID: result.videoUUID, ext: result.format.lowercased(), expiresAt: Int64(expires))
                o["videoURL"] = .string(links.url)
                o["mediaPath"] = .string(links.path)
            }
            return .object(o)
        })
        body["events"] = .array(history.events.map { ["at": .double($0.at), "state": .string($0.state.rawValue), "detail": $0.detail.map { .string($0) } ?? .null] })
        body["cost"] = .double(task.results.compactMap(\.cost).reduce(0, +))
        body["deliveries"] = .array(history.deliveries.map { record, attempts in
            var o: [String: JSONValue] = [
                "kind": .string(record.kind.rawValue), "state": .string(record.state.rawValue), "webhookId": .string(record.messageID),
                "target": .string(URLHost.of(record.url)), "attempts": .array(attempts.map { a in
                    ["at": .double(a.at), "targetHost": .string(a.targetHost), "statusCode": a.statusCode.map { .int(Int64($0)) } ?? .null,
                     "latencyMs": .double(a.latencyMilliseconds), "error": a.error.map { .string($0) } ?? .null]
                }),
            ]
            if let video = record.videoUUID { o["videoUUID"] = .string(video) }
            if let error = record.lastError { o["lastError"] = .string(error) }
            return .object(o)
        })
        let bytes = JSONValue.object(body).serializedBytes()
        // Not kept when the view depends on more than the task and its history: presigned links
        // (signed for the time of the poll) and inline outputs (whose file is looked at).
        if !media.linksDependOnSigningTime, items.allSatisfy({ $0.inline == nil }) {
            views.keep(bytes, of: task, history: history, linkBase: linkBase)
        }
        return .jsonBytes(bytes)
    }

    /// The stored request as ops see it: outbound URLs without their query strings and
    /// fragments (presigned signatures, tokens), inline images as their size.
    static func forDisplay(_ request: JSONValue) -> JSONValue {
        func redact(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(let text):
                let lower = text.prefix(8).lowercased()
                if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
                    return .string(String(text.prefix { $0 != "?" && $0 != "#" }))
                }
                if text.utf8.count > 1024 { return .string("[inline data, \(text.utf8.count) bytes]") }
                return value
            case .array(let items): return .array(items.map(redact))
            case .object(let fields): return .object(fields.mapValues(redact))
            default: return value
            }
        }
        guard var fields = request.object else { return request }
        for key in ["webhookURL", "uploadEndpoint", "inputs", "frameImages", "referenceImages"] {
            if let value = fields[key] { fields[key] = redact(value) }
        }
        return .object(fields)
    }

    private func list(_ request: Request, _ principal: Principal) async throws -> HTTPResponse {
        let q = request.queryParameters
        let limit = min(max(Int(q["limit"] ?? "") ?? 50, 1), 500)
        if let state = q["state"], TaskState(rawValue: state) == nil {
            throw APIError(.invalid("state"), "state must be one of \(TaskState.allCases.map(\.rawValue).joined(separator: ", "))", parameter: .one("state"))
        }
        var cursor: (Double, String)?
        if let text = q["cursor"] {
            let parts = text.split(separator: "_", maxSplits: 1)
            guard parts.count == 2, let at = Double(parts[0]) else {
                throw APIError(.invalid("cursor"), "cursor is not one this API returned", parameter: .one("cursor"))
            }
            cursor = (at, String(parts[1]))
        }
        var since: Double?
        if let text = q["since"] {
            guard let value = Double(text) ?? ISO8601DateFormatter().date(from: text)?.timeIntervalSince1970 else {
                throw APIError(.invalid("since"), "since is a Unix time or an ISO 8601 date", parameter: .one("since"))
            }
            since = value
        }
        // Ops may narrow the list to one key; a client key's list is its own whatever it asks.
        let filter = TaskListFilter(keyName: principal.isOps ? q["apiKey"].flatMap { $0.isEmpty ? nil : $0 } : principal.name, state: q["state"].flatMap(TaskState.init(rawValue:)),
                                    model: q["model"], since: since)
        let tasks = try await store.list(filter, limit: limit, cursor: cursor)
        var body: [String: JSONValue] = ["tasks": .array(tasks.map { .object(summary($0)) })]
        if tasks.count == limit, let last = tasks.last { body["nextCursor"] = .string("\(last.createdAt)_\(last.uuid)") }
        return .jsonBytes(JSONValue.object(body).serializedBytes())
    }

    private func cancel(_ task: TaskRecord) async throws -> HTTPResponse {
        guard let now = try await canceller.cancel(task.uuid) else {
            throw APIError(.taskNotFound, "no task \(task.uuid)")
        }
        return .jsonBytes(JSONValue.object(summary(now)).serializedBytes())
    }

    /// The edit tree around a video: `{root, nodes:[{videoUUID, taskUUID, parent, prompt, state, children}]}`.
    private func lineage(_ request: Request, _ principal: Principal) async throws -> HTTPResponse {
        var video = (request.pathParameters["id"] ?? "").lowercased()
        // A video id of the OpenAI-compatible API names its task's (first) result.
        if let uuid = OpenAIVideo.taskUUID(id: video), let task = try await store.find(uuid), task.openAI != nil, let first = task.results.first {
            video = first.videoUUID
        }
        let all = try await store.lineage(of: video)
        let nodes = all.filter { principal.isOps || $0.keyName == principal.name }
        guard nodes.contains(where: { $0.videoUUID == video }) else { throw APIError(.unknownVideo, "no video \(APIErrorItem.echo(video))") }
        let visible = Set(nodes.map(\.videoUUID))
        let items: [JSONValue] = nodes.map { node in
            let children = nodes.filter { $0.parent == node.videoUUID }.map { JSONValue.string($0.videoUUID) }
            return [
                "videoUUID": .string(node.videoUUID), "taskUUID": .string(node.taskUUID),
                "parent": node.parent.flatMap { visible.contains($0) ? .string($0) : nil } ?? .null,
                "prompt": .string(node.prompt), "state": .string(node.state.rawValue), "children": .array(children),
            ]
        }
        let root = nodes.first { $0.parent == nil || !visible.contains($0.parent!) }?.videoUUID ?? video
        return .jsonBytes(JSONValue.object(["root": .string(root), "videoUUID": .string(video), "nodes": .array(items)]).serializedBytes())
    }

    private func redeliver(_ task: TaskRecord, by principal: Principal) async throws -> HTTPResponse {
        if let wait = redeliveries.admit(key: principal.name, task: task.uuid) {
            let seconds = Int(wait.rounded(.up))
            throw APIError(.rateLimitExceeded, "redelivery is rate-limited per key and per task; retry in \(seconds) s", retryAfter: seconds)
        }
        let count = try await store.redeliver(task.uuid)
        deliveries.notifyNewWork()
        return .jsonBytes(JSONValue.object(["taskUUID": .string(task.uuid), "deliveries": .int(Int64(count))]).serializedBytes())
    }

    private func summary(_ task: TaskRecord) -> [String: JSONValue] {
        var o: [String: JSONValue] = [
            "taskUUID": .string(task.uuid), "model": .string(task.model), "state": .string(task.state.rawValue),
            "apiKey": .string(task.apiKeyName), "createdAt": .double(task.createdAt), "updatedAt": .double(task.updatedAt),
            "attempts": .int(Int64(task.attempts)),
        ]
        if let v = task.provider { o["provider"] = .string(v) }
        if let v = task.upstreamID { o["upstreamId"] = .string(task.upstream?.displayID ?? v) }
        if let v = task.dispatchedAt { o["dispatchedAt"] = .double(v) }
        if let v = task.deadlineAt { o["deadlineAt"] = .double(v) }
        if let code = task.errorCode { o["error"] = ["code": .string(code), "message": .string(task.errorMessage ?? "")] }
        if task.openAI != nil { o["openaiVideoId"] = .string(OpenAIVideo.id(taskUUID: task.uuid)) }
        if let deleted = task.deletedAt { o["deletedAt"] = .double(deleted) }
        let costs = task.results.compactMap(\.cost)
        if !costs.isEmpty { o["cost"] = .double(costs.reduce(0, +)) }
        return o
    }
}
