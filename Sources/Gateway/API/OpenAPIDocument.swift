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
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
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
            "taskUUID": {"type": "string"}, "state": {"type": "string"}, "model": {"type": "string"},
            "attempts": {"type": "integer"}, "provider": {"type": "string"}, "upstreamId": {"type": "string"},
            "results": {"type": "array"}, "events": {"type": "array"}, "deliveries": {"type": "array"}}},
          "TaskList": {"type": "object", "required": ["tasks"], "properties": {
            "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/TaskView"}}, "nextCursor": {"type": "string"}}},
          "Lineage": {"type": "object", "required": ["root", "nodes"], "properties": {
            "root": {"type": "string"}, "videoUUID": {"type": "string"}, "nodes": {"type": "array"}}},
          "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
        },
        "responses": {
          "Errors": {"description": "Errors in the Runware error shape",
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
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
        "/v1/tasks": {"get": {"summary": "Tasks, newest first", "security": [{"bearer": []}],
          "parameters": [
            {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["queued", "dispatching", "running", "fetching", "delivering", "succeeded", "failed", "cancelled"]}},
            {"name": "model", "in": "query", "schema": {"type": "string"}},
            {"name": "since", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}}],
          "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskList"}}}},
                        "400": {"$ref": "#/components/responses/Errors"}, "401": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/tasks/{id}": {"get": {"summary": "One task in full", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "The task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskView"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "404": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/tasks/{id}/cancel": {"post": {"summary": "Cancel (idempotent)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "The task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskView"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "404": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/tasks/{id}/redeliver": {"post": {"summary": "Run the task's uploads and webhooks again", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/taskId"}],
          "responses": {"200": {"description": "Deliveries reset", "content": {"application/json": {"schema": {"type": "object"}}}},
                        "401": {"$ref": "#/components/responses/Errors"}, "404": {"$ref": "#/components/responses/Errors"},
                        "429": {"$ref": "#/components/responses/Errors"}}}},
        "/v1/videos/{id}/lineage": {"get": {"summary": "The edit tree around a video", "security": [{"bearer": []}],
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
