import Domain
import Store
import HTTP1
import HTTPServer

/// `GET /openapi.json`: OpenAPI 3.1 for every route. A test checks that each route the router
/// knows is described here, so the document cannot fall behind the code.
enum OpenAPIDocument {
    static func register(on router: RouterBuilder) {
        let bytes = document.serializedBytes()
        router.get("/openapi.json") { _ in .jsonBytes(bytes) }
    }

    /// The document, with `POST /` described as the alias of `POST /v1` it is.
    static var document: JSONValue {
        guard case .object(var root) = (try? JSONParser.parse(json)) ?? .null, case .object(var paths) = root["paths"] ?? .null,
            case .object(var alias) = paths["/v1"]?["post"] ?? .null
        else { return .null }
        alias["summary"] = "Alias of POST /v1"
        var upgrade = paths["/v1"]?["get"]?.object ?? [:]
        upgrade["summary"] = "Alias of GET /v1 (the WebSocket upgrade)"
        paths["/"] = ["post": .object(alias), "get": .object(upgrade)]
        root["paths"] = .object(paths)
        return .object(root)
    }

    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {"title": "reelgate", "version": "0.1.0",
               "description": "Self-hosted gateway for AI video generation with a Runware-compatible task API. Every route may also answer 503 (serverBusy: a connection or buffered-body limit, with Retry-After) and 408 (a request not received in time)."},
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                            "console": {"type": "apiKey", "in": "cookie", "name": "reelgate_console",
                                        "description": "A console session (POST /console/session); calls that change state also need X-CSRF-Token"}},
        "schemas": {
          "ErrorItem": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "parameter": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "taskType": {"type": "string"}, "taskUUID": {"type": "string"}, "allowedValues": {"type": "array"}}},
          "Errors": {"type": "object", "required": ["errors"], "properties": {
            "errors": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ErrorItem"}}}},
          "TaskResponse": {"type": "object", "properties": {
            "data": {"type": "array", "items": {"type": "object"}},
            "errors": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ErrorItem"}}}},
          "Task": {"type": "object", "required": ["taskType"], "properties": {
            "taskType": {"type": "string", "enum": ["authentication", "videoInference", "getResponse", "imageUpload", "ping"]},
            "taskUUID": {"type": "string", "format": "uuid"}}, "additionalProperties": true},
          "TaskView": {"type": "object", "required": ["taskUUID", "state", "model"], "properties": {
            "taskUUID": {"type": "string"}, "state": {"type": "string"}, "model": {"type": "string"}, "cost": {"type": "number"},
            "attempts": {"type": "integer"}, "provider": {"type": "string"}, "upstreamId": {"type": "string"},
            "results": {"type": "array"}, "events": {"type": "array"}, "deliveries": {"type": "array"}}},
          "TaskList": {"type": "object", "required": ["tasks"], "properties": {
            "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/TaskView"}}, "nextCursor": {"type": "string"}}},
          "Lineage": {"type": "object", "required": ["root", "nodes"], "properties": {
            "root": {"type": "string"}, "videoUUID": {"type": "string"}, "nodes": {"type": "array"}}},
          "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
          "OpenAIError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
            "required": ["message", "type", "param", "code"], "properties": {
              "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
          "Video": {"type": "object",
            "required": ["id", "object", "model", "status", "progress", "created_at", "completed_at", "expires_at", "prompt", "seconds", "size",
                         "remixed_from_video_id", "error"],
            "properties": {
              "id": {"type": "string"}, "object": {"const": "video"}, "model": {"type": "string"},
              "status": {"type": "string", "enum": ["queued", "in_progress", "completed", "failed"]},
              "progress": {"type": "integer", "minimum": 0, "maximum": 100}, "created_at": {"type": "integer"},
              "completed_at": {"type": ["integer", "null"]}, "expires_at": {"type": ["integer", "null"]}, "prompt": {"type": "string"},
              "seconds": {"type": "string"}, "size": {"type": "string"}, "remixed_from_video_id": {"type": ["string", "null"]},
              "error": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}]}}},
          "VideoList": {"type": "object", "required": ["object", "data", "first_id", "last_id", "has_more"], "properties": {
            "object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/Video"}},
            "first_id": {"type": ["string", "null"]}, "last_id": {"type": ["string", "null"]}, "has_more": {"type": "boolean"}}},
          "VideoCreate": {"type": "object", "required": ["prompt"], "properties": {
            "prompt": {"type": "string", "minLength": 2, "maxLength": 3000}, "model": {"type": "string"},
            "seconds": {"type": "string"}, "size": {"type": "string"},
            "input_reference": {"type": "object", "properties": {"image_url": {"type": "string"}}}}},
          "VideoCreateForm": {"type": "object", "required": ["prompt"], "properties": {
            "prompt": {"type": "string", "minLength": 2, "maxLength": 3000}, "model": {"type": "string"},
            "seconds": {"type": "string"}, "size": {"type": "string"},
            "input_reference": {"type": "string", "format": "binary", "description": "An image (png, jpeg or webp) used as the first frame"}}},
          "ConsoleSession": {"type": "object", "required": ["name", "role", "csrfToken", "expiresAt"], "properties": {
            "name": {"type": "string"}, "role": {"type": "string", "enum": ["client", "ops"]},
            "csrfToken": {"type": "string"}, "expiresAt": {"type": "number"}}},
          "Providers": {"type": "object", "required": ["providers"], "properties": {"providers": {"type": "array", "items": {
            "type": "object", "required": ["name", "inFlight", "maxConcurrent", "breaker", "budget"], "properties": {
              "name": {"type": "string"}, "inFlight": {"type": "integer"}, "maxConcurrent": {"type": "integer"},
              "breaker": {"type": "object", "required": ["state"], "properties": {
                "state": {"type": "string", "enum": ["closed", "open", "halfOpen"]}, "consecutiveFailures": {"type": "integer"},
                "retryAfterSeconds": {"type": "number"}}},
              "budget": {"type": "object", "properties": {"requestsPerMinute": {"type": "integer"}, "requestsAvailable": {"type": "number"}}}}}}}},
          "Stats": {"type": "object", "required": ["windowSeconds", "submitted", "tasksPerMinute", "successRate", "latencySeconds", "byState"],
            "properties": {
              "windowSeconds": {"type": "number"}, "submitted": {"type": "integer"}, "sampled": {"type": "boolean"},
              "tasksPerMinute": {"type": "number"}, "successRate": {"type": ["number", "null"]},
              "latencySeconds": {"type": "object", "properties": {"p50": {"type": ["number", "null"]}, "p95": {"type": ["number", "null"]}}},
              "byState": {"type": "object", "additionalProperties": {"type": "integer"}}}}
        },
        "responses": {
          "Errors": {"description": "Errors in the Runware error shape",
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}},
          "OpenAIError": {"description": "An error in OpenAI's shape",
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}}
        },
        "parameters": {
          "taskId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
        }
      },
      "paths": {
        "/v1": {"post": {"summary": "Submit and query tasks (Runware format)", "security": [{"bearer": []}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
            {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}, {"$ref": "#/components/schemas/Task"}]}}}},
          "responses": {
            "200": {"description": "Every task accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "400": {"description": "Invalid task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "401": {"description": "Missing or invalid key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "404": {"description": "Unknown task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "409": {"description": "taskUUID reused with another body", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "413": {"$ref": "#/components/responses/Errors"},
            "429": {"description": "Rate limited", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "503": {"description": "Overloaded", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}},
            "507": {"description": "Media storage full", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskResponse"}}}}}},
          "get": {"summary": "The Runware WebSocket transport (upgrade)",
            "description": "GET /v1 (or GET /) with `Upgrade: websocket`, `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key` switches the connection to WebSocket (RFC 6455): text messages are JSON arrays of the same tasks as POST /v1, the first one `[{\"taskType\":\"authentication\",\"apiKey\":…}]` (add `connectionSessionUUID` to resume a session); answers are `{\"data\":[…]}` / `{\"errors\":[…]}` messages, and the finished results of tasks the session submitted or polled are pushed as getResponse would answer them. A GET without the upgrade is answered 426.",
            "responses": {
              "101": {"description": "Switching Protocols: the connection speaks WebSocket from here on"},
              "400": {"$ref": "#/components/responses/Errors"},
              "426": {"description": "Not a WebSocket upgrade, or a version other than 13 (Sec-WebSocket-Version: 13 says which)",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}}}},
        "/v1/tasks": {"get": {"summary": "Tasks, newest first", "security": [{"bearer": []}, {"console": []}],
          "parameters": [
            {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["queued", "dispatching", "running", "fetching", "delivering", "succeeded", "failed", "cancelled"]}},
            {"name": "model", "in": "query", "schema": {"type": "string"}},
            {"name": "apiKey", "in": "query", "description": "Ops keys only: one key's tasks", "schema": {"type": "string"}},
            {"name": "since", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskList"}}}},
                        "400": {"$ref": "#/components/responses/Errors"}, "401": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/tasks/{id}": {"get": {"summary": "One task in full", "security": [{"bearer": []}, {"console": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "The task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskView"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "404": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/tasks/{id}/cancel": {"post": {"summary": "Cancel (idempotent)", "security": [{"bearer": []}, {"console": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "The task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskView"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "403": {"$ref": "#/components/responses/Errors"},
                        "404": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/tasks/{id}/redeliver": {"post": {"summary": "Run the task's uploads and webhooks again", "security": [{"bearer": []}, {"console": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "Deliveries reset", "content": {"application/json": {"schema": {"type": "object"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "403": {"$ref": "#/components/responses/Errors"},
                        "404": {"$ref": "#/components/responses/Errors"}, "429": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/providers": {"get": {"summary": "Each provider's health: jobs in flight, breaker, request budget (ops keys)",
          "security": [{"bearer": []}, {"console": []}],
          "responses": {"200": {"description": "Providers", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Providers"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "403": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/stats": {"get": {"summary": "Headline numbers over a window: tasks per minute, success rate, latency p50/p95 (a client key's own tasks)",
          "security": [{"bearer": []}, {"console": []}],
          "parameters": [{"name": "windowSeconds", "in": "query", "schema": {"type": "number", "minimum": 60, "maximum": 604800}}],
          "responses": {"200": {"description": "Figures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
                        "400": {"$ref": "#/components/responses/Errors"}, "401": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/videos": {
          "post": {"summary": "OpenAI-compatible: create a video (JSON, or multipart/form-data with an input_reference image)",
            "security": [{"bearer": []}],
            "requestBody": {"required": true, "content": {
              "application/json": {"schema": {"$ref": "#/components/schemas/VideoCreate"}},
              "multipart/form-data": {"schema": {"$ref": "#/components/schemas/VideoCreateForm"}}}},
            "responses": {"200": {"description": "The new video", "headers": {"openai-poll-after-ms": {"schema": {"type": "string"}}},
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Video"}}}},
                          "400": {"$ref": "#/components/responses/OpenAIError"}, "401": {"$ref": "#/components/responses/OpenAIError"},
                          "413": {"$ref": "#/components/responses/OpenAIError"}, "429": {"$ref": "#/components/responses/OpenAIError"},
                          "503": {"$ref": "#/components/responses/OpenAIError"}, "507": {"$ref": "#/components/responses/OpenAIError"}}},
          "get": {"summary": "OpenAI-compatible: the key's videos", "security": [{"bearer": []}],
            "parameters": [{"name": "after", "in": "query", "schema": {"type": "string"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 100}},
                           {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}}],
            "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VideoList"}}}},
                          "400": {"$ref": "#/components/responses/OpenAIError"}, "401": {"$ref": "#/components/responses/OpenAIError"}}}},
        "/v1/videos/{id}": {
          "post": {"summary": "OpenAI-compatible: later routes of that API (edits, extensions, characters) are not served: a 404 in its shape",
            "security": [{"bearer": []}], "parameters": [{"$ref": "#/components/parameters/taskId"}],
            "responses": {"401": {"$ref": "#/components/responses/OpenAIError"}, "404": {"$ref": "#/components/responses/OpenAIError"},
                          "413": {"$ref": "#/components/responses/OpenAIError"}}},
          "get": {"summary": "OpenAI-compatible: one video", "security": [{"bearer": []}],
            "parameters": [{"$ref": "#/components/parameters/taskId"}],
            "responses": {"200": {"description": "The video", "headers": {"openai-poll-after-ms": {"schema": {"type": "string"}}},
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Video"}}}},
                          "401": {"$ref": "#/components/responses/OpenAIError"}, "404": {"$ref": "#/components/responses/OpenAIError"}}},
          "delete": {"summary": "OpenAI-compatible: delete a video and its media (the task stays for ops)", "security": [{"bearer": []}],
            "parameters": [{"$ref": "#/components/parameters/taskId"}],
            "responses": {"200": {"description": "Deleted", "content": {"application/json": {"schema": {"type": "object",
                            "required": ["id", "object", "deleted"], "properties": {"id": {"type": "string"}, "object": {"const": "video.deleted"},
                            "deleted": {"const": true}}}}}},
                          "401": {"$ref": "#/components/responses/OpenAIError"}, "404": {"$ref": "#/components/responses/OpenAIError"},
                          "503": {"$ref": "#/components/responses/OpenAIError"}}}},
        "/v1/videos/characters/{id}": {"get": {"summary": "OpenAI-compatible: not served (a 404 in that API's shape)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"404": {"$ref": "#/components/responses/OpenAIError"}}}},
        "/v1/videos/{id}/content": {"get": {"summary": "OpenAI-compatible: the video's bytes (Range supported)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"},
                         {"name": "variant", "in": "query", "schema": {"type": "string", "enum": ["video", "thumbnail", "spritesheet"]}},
                         {"name": "Range", "in": "header", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "The video", "content": {"video/mp4": {}, "video/webm": {}, "video/quicktime": {}}},
                        "206": {"description": "Part of the video"}, "400": {"$ref": "#/components/responses/OpenAIError"},
                        "401": {"$ref": "#/components/responses/OpenAIError"}, "404": {"$ref": "#/components/responses/OpenAIError"},
                        "416": {"description": "Range not satisfiable"}, "503": {"$ref": "#/components/responses/OpenAIError"}}}},
        "/v1/videos/{id}/remix": {"post": {"summary": "OpenAI-compatible: a new video editing a completed one (SPEC §9)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["prompt"],
            "properties": {"prompt": {"type": "string", "minLength": 2, "maxLength": 3000}}}}}},
          "responses": {"200": {"description": "The new video", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Video"}}}},
                        "400": {"$ref": "#/components/responses/OpenAIError"}, "401": {"$ref": "#/components/responses/OpenAIError"},
                        "404": {"$ref": "#/components/responses/OpenAIError"}, "429": {"$ref": "#/components/responses/OpenAIError"},
                        "503": {"$ref": "#/components/responses/OpenAIError"}, "507": {"$ref": "#/components/responses/OpenAIError"}}}},
        "/console": {"get": {"summary": "The ops console (HTML)", "responses": {"200": {"description": "The page", "content": {"text/html": {}}}}}},
        "/console/console.js": {"get": {"summary": "The console's script", "responses": {"200": {"description": "JavaScript", "content": {"text/javascript": {}}}}}},
        "/console/console.css": {"get": {"summary": "The console's styles", "responses": {"200": {"description": "CSS", "content": {"text/css": {}}}}}},
        "/console/favicon.svg": {"get": {"summary": "The console's icon", "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {}}}}}},
        "/console/session": {
          "post": {"summary": "Sign in: exchanges a key for a session cookie (HttpOnly, SameSite=Strict)",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["key"],
              "properties": {"key": {"type": "string"}}}}}},
            "responses": {"200": {"description": "Signed in; Set-Cookie carries the session", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConsoleSession"}}}},
                          "400": {"$ref": "#/components/responses/Errors"}, "401": {"$ref": "#/components/responses/Errors"}}},
          "get": {"summary": "The signed-in session and its CSRF token", "security": [{"console": []}],
            "responses": {"200": {"description": "Signed in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConsoleSession"}}}},
                          "401": {"$ref": "#/components/responses/Errors"}}},
          "delete": {"summary": "Sign out: ends the session everywhere (needs X-CSRF-Token)", "security": [{"console": []}],
            "responses": {"204": {"description": "Signed out; the cookie is cleared"}, "403": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/videos/{id}/lineage": {"get": {"summary": "The edit tree around a video", "security": [{"bearer": []}, {"console": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "Lineage", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Lineage"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "404": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/media/{file}": {"get": {"summary": "A result video (signed, expiring, Range supported)",
          "parameters": [{"name": "file", "in": "path", "required": true, "schema": {"type": "string"}},
                         {"name": "exp", "in": "query", "schema": {"type": "string"}},
                         {"name": "sig", "in": "query", "schema": {"type": "string"}},
                         {"name": "Range", "in": "header", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "The video", "content": {"video/mp4": {}, "video/webm": {}, "video/quicktime": {}}},
                        "206": {"description": "Part of the video"}, "403": {"$ref": "#/components/responses/Errors"},
                        "404": {"$ref": "#/components/responses/Errors"}, "410": {"$ref": "#/components/responses/Errors"},
                        "416": {"description": "Range not satisfiable"}}}},
        "/healthz": {"get": {"summary": "The process answers",
          "responses": {"200": {"description": "Up", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}}},
        "/readyz": {"get": {"summary": "The database takes writes and the server is not draining",
          "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
                        "503": {"description": "Not ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}}},
        "/metrics": {"get": {"summary": "Prometheus text", "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}}
      }
    }
    """#
}
