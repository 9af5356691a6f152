import Domain
import Foundation
import Store

/// A video of the OpenAI-compatible API (SPEC §18) is a task with this kept beside it
/// (`tasks.openai_json`): what the client sent in this API's terms, echoed in the video object.
struct OpenAIVideo: Sendable, Equatable {
    /// The model name the client sent (`sora-2`), not the AIR id it routes to.
    var model: String
    var prompt: String
    var seconds: String
    var size: String
    var remixedFrom: String?

    var json: String {
        var o: [String: JSONValue] = ["model": .string(model), "prompt": .string(prompt), "seconds": .string(seconds), "size": .string(size)]
        if let remixedFrom { o["remixedFrom"] = .string(remixedFrom) }
        return JSONValue.object(o).serialized()
    }

    init(model: String, prompt: String, seconds: String, size: String, remixedFrom: String? = nil) {
        self.model = model
        self.prompt = prompt
        self.seconds = seconds
        self.size = size
        self.remixedFrom = remixedFrom
    }

    /// The video kept with a task, if the task is one of this API's.
    init?(task: TaskRecord) {
        guard let text = task.openAI, let o = (try? JSONParser.parse(text))?.object else { return nil }
        model = o["model"]?.string ?? task.model
        prompt = o["prompt"]?.string ?? ""
        seconds = o["seconds"]?.string ?? ""
        size = o["size"]?.string ?? ""
        remixedFrom = o["remixedFrom"]?.string
    }

    /// `video_` and the task's UUID without dashes: the id names the task, so no second index
    /// is needed and an id cannot be guessed from another.
    static func id(taskUUID: String) -> String { "video_" + taskUUID.replacingOccurrences(of: "-", with: "") }

    /// The task UUID a video id names, if it is one of this API's ids.
    static func taskUUID(id: String) -> String? {
        guard id.hasPrefix("video_") else { return nil }
        let hex = Array(id.dropFirst(6).lowercased().utf8)
        guard hex.count == 32, hex.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return UUIDText.dashed(String(decoding: hex, as: UTF8.self))
    }

    /// OpenAI's status for a task state.
    static func status(_ state: TaskState) -> String {
        switch state {
        case .queued, .dispatching: "queued"
        case .running, .fetching, .delivering: "in_progress"
        case .succeeded: "completed"
        case .failed, .cancelled: "failed"
        }
    }

    /// The video object, exactly as `reference/openai-videos.md` gives it.
    func object(for task: TaskRecord) -> JSONValue {
        let status = Self.status(task.state)
        let result = task.results.first
        let progress: Int64 = switch status {
        case "completed": 100
        case "queued": 0
        default: Int64(min(max(result?.progress ?? 0, 0), 99))
        }
        var error: JSONValue = .null
        if status == "failed" {
            let code = result?.errorCode ?? task.errorCode ?? "providerError"
            error = ["code": .string(OpenAIError.snakeCase(code)), "message": .string(result?.errorMessage ?? task.errorMessage ?? "the video failed")]
        }
        return [
            "id": .string(Self.id(taskUUID: task.uuid)), "object": "video", "model": .string(model), "status": .string(status),
            "progress": .int(progress), "created_at": .int(Int64(task.createdAt)),
            "completed_at": task.state.isTerminal ? .int(Int64(task.updatedAt)) : .null,
            "expires_at": (status == "completed" ? result?.expiresAt : nil).map { .int(Int64($0)) } ?? .null,
            "prompt": .string(prompt), "seconds": .string(seconds), "size": .string(size),
            "remixed_from_video_id": remixedFrom.map { .string($0) } ?? .null, "error": error,
        ]
    }
}
