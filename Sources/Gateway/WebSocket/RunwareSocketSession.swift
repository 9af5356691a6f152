import Domain
import Foundation
import HTTPServer
import Store
import WebSocket

/// One Runware WebSocket connection (SPEC §15), from the `101` to the close.
///
/// Concurrency: it runs on its connection's event loop, as one loop that reads a message,
/// answers it and reads again, so a client that does not read its answers stops being read
/// (backpressure, nothing buffered without bound). Pushes come from workers through
/// ``WebSocketSessions``, which only queue the task's UUID and interrupt the read: the loop
/// itself renders and sends them, so nothing else ever writes to the socket.
struct RunwareSocketSession: ConnectionUpgrade {
    let endpoint: RunwareWebSocketEndpoint
    let remote: String

    func run(_ socket: UpgradedSocket) async {
        var conversation = Conversation(endpoint: endpoint, socket: socket, remote: remote)
        endpoint.openSockets.add(1, ordering: .relaxed)
        await conversation.serve()
        endpoint.openSockets.subtract(1, ordering: .relaxed)
    }
}

/// The state of one socket: its parser, who authenticated, which session it holds.
private struct Conversation {
    enum Ending {
        /// The client sent a close frame (with this code, if any).
        case peerClosed(WebSocketCloseCode?)
        /// The client broke the protocol, or something it sent cannot be taken.
        case failed(WebSocketError)
        case idle
        case draining
        /// The socket is gone; nothing can be said.
        case gone
    }

    let endpoint: RunwareWebSocketEndpoint
    let socket: UpgradedSocket
    let remote: String
    var parser: WebSocketParser
    var principal: Principal?
    var session: WebSocketSessions.Opened?
    /// Bytes of the server's body budget held for the message being reassembled.
    var reservedBytes = 0

    init(endpoint: RunwareWebSocketEndpoint, socket: UpgradedSocket, remote: String) {
        self.endpoint = endpoint
        self.socket = socket
        self.remote = remote
        parser = WebSocketParser(maxMessageBytes: endpoint.settings.unauthenticatedMessageBytes)
    }

    var sessions: WebSocketSessions { endpoint.sessions }

    mutating func serve() async {
        let ending = await readLoop()
        socket.releaseBuffered(reservedBytes)
        reservedBytes = 0
        let (code, reason): (WebSocketCloseCode?, String) = switch ending {
        case .peerClosed(let code): (code, "closed by the client")
        case .failed(let error): (error.closeCode, error.reason)
        case .idle: (.normal, principal == nil ? "not authenticated in time" : "idle timeout")
        case .draining: (.serviceRestart, "the server is restarting; reconnect")
        case .gone: (nil, "connection lost")
        }
        if case .gone = ending {
        } else {
            // A client's close is echoed with its code (an empty one with an empty payload).
            var payload: [UInt8] = []
            if case .peerClosed = ending {
                payload = code.map { WebSocketFrameEncoder.closePayload($0) } ?? []
            } else if let code {
                payload = WebSocketFrameEncoder.closePayload(code, reason: reason)
            }
            if await socket.write(WebSocketFrameEncoder.frame(.close, payload: payload)) { await socket.finish() }
        }
        endpoint.metrics.increment("reelgate_websocket_closes_total", [("code", code.map { String($0.rawValue) } ?? "none")])
        if let session {
            sessions.detach(session.uuid, attachment: session.attachment, now: Date().timeIntervalSince1970)
            endpoint.logger.info("websocket session detached", [
                "session": session.uuid, "key": principal?.name ?? "", "code": code.map { String($0.rawValue) } ?? "none", "reason": reason,
            ])
        }
    }

    private mutating func readLoop() async -> Ending {
        while true {
            if let session {
                for task in sessions.takeFinished(session.uuid, attachment: session.attachment) {
                    guard await push(task) else { return .gone }
                }
            }
            // Until it authenticates a socket gets the HTTP head's time, not a session's.
            let timeout = principal == nil ? endpoint.settings.authenticationTimeout : endpoint.settings.idleTimeout
            switch await socket.read(idleTimeout: timeout) {
            case .bytes(let bytes):
                parser.append(bytes)
                do {
                    while let event = try parser.next() {
                        switch event {
                        case .text(let message):
                            socket.releaseBuffered(reservedBytes)
                            reservedBytes = 0
                            if let ending = await handle(message) { return ending }
                        case .ping(let payload):
                            guard await socket.write(WebSocketFrameEncoder.frame(.pong, payload: payload)) else { return .gone }
                        case .pong:
                            break  // unsolicited pongs are allowed and mean nothing
                        case .close(let code, _):
                            return .peerClosed(code)
                        }
                    }
                } catch {
                    return .failed(error)
                }
                // A message being reassembled holds memory like a request body, under the same budget.
                let pending = parser.pendingMessageBytes + parser.bufferedByteCount
                if pending > reservedBytes {
                    guard socket.reserveBuffered(pending - reservedBytes) else {
                        return .failed(WebSocketError(.tryAgainLater, "the server holds too many messages; retry"))
                    }
                    reservedBytes = pending
                }
            case .interrupted:
                continue
            case .timedOut:
                return .idle
            case .draining:
                return .draining
            case .closed:
                return .gone
            }
        }
    }

    // MARK: Messages

    /// Answers one message; the ending if the connection ends because of it.
    private mutating func handle(_ message: [UInt8]) async -> Ending? {
        endpoint.metrics.increment("reelgate_websocket_messages_total", [("direction", "in")])
        var tasks: [JSONValue]
        let api = endpoint.api
        let parsed = message.count > TaskAPI.offLoopBodyBytes ? await offLoop { api.parseTasks(message) } : api.parseTasks(message)
        switch parsed {
        case .success(let parsed): tasks = parsed
        case .failure(let error): return await send(TaskAPI.Reply(errors: [error])) ? nil : .gone
        }
        if let first = tasks.first?.object, first["taskType"]?.string == "authentication" {
            tasks.removeFirst()
            guard let key = first["apiKey"]?.string, let principal = endpoint.authenticator.authenticate(key) else {
                let failure: TaskAPI.AuthenticationFailure = first["apiKey"]?.string == nil ? .missingKeyOnSocket : .invalidKey
                guard await send(TaskAPI.Reply(errors: [TaskAPI.authenticationErrorItem(failure)])) else { return .gone }
                endpoint.logger.warning("websocket authentication refused", ["remote": remote])
                try? await Task.sleep(for: endpoint.settings.badKeyCloseDelay)
                return .failed(WebSocketError(.policyViolation, "authentication failed"))
            }
            authenticate(principal, resume: first["connectionSessionUUID"]?.string)
            guard let session else { return .gone }
            let item = ResultItem(fields: ["taskType": "authentication", "connectionSessionUUID": .string(session.uuid)])
            guard await send(TaskAPI.Reply(data: [item])) else { return .gone }
        }
        guard !tasks.isEmpty else { return nil }
        guard let principal else {
            // Nothing is created before authentication; a heartbeat is still answered.
            var reply = TaskAPI.Reply()
            for task in tasks {
                let object = task.object
                if object?["taskType"]?.string == "ping" {
                    reply.data.append(ResultItem(fields: ["taskType": "ping", "pong": true]))
                } else {
                    reply.errors.append(TaskAPI.authenticationErrorItem(.missingKeyOnSocket)
                        .on(taskType: nil, taskUUID: object?["taskUUID"]?.string))
                }
            }
            return await send(reply) ? nil : .gone
        }
        // A large message (inline images) is parsed and run off the loop, as a large REST body is.
        let batch = tasks
        let reply = message.count > TaskAPI.offLoopBodyBytes
            ? await offLoop { await api.run(batch, principal: principal) } : await api.run(batch, principal: principal)
        if let session { sessions.subscribe(session.uuid, attachment: session.attachment, tasks: reply.watching) }
        return await send(reply) ? nil : .gone
    }

    private mutating func authenticate(_ principal: Principal, resume: String?) {
        let now = Date().timeIntervalSince1970
        if let session { sessions.detach(session.uuid, attachment: session.attachment, now: now) }
        let socket = self.socket
        let opened = sessions.open(keyName: principal.name, resume: resume, now: now) { socket.interrupt() }
        self.principal = principal
        session = opened
        parser.maxMessageBytes = endpoint.settings.maxMessageBytes
        endpoint.metrics.increment("reelgate_websocket_sessions_total", [("outcome", opened.resumed ? "resumed" : "new")])
        endpoint.logger.info(opened.resumed ? "websocket session resumed" : "websocket session opened", [
            "session": opened.uuid, "key": principal.name, "remote": remote,
        ])
    }

    /// Pushes a finished task's items, exactly as `getResponse` would answer them.
    private func push(_ task: String) async -> Bool {
        guard let record = try? await endpoint.api.store.find(task), record.state.resultsAreFinal else { return true }
        endpoint.metrics.increment("reelgate_websocket_pushes_total")
        return await send(TaskAPI.Reply(data: ResultItems.items(for: record, media: endpoint.api.media)))
    }

    /// Sends a reply as one text message. Inline videos are streamed into the frame a piece at a
    /// time as the socket drains (the frame's length is known up front), as REST streams them.
    private func send(_ reply: TaskAPI.Reply) async -> Bool {
        endpoint.metrics.increment("reelgate_websocket_messages_total", [("direction", "out")])
        let body = ReplyBody(data: reply.data, errors: reply.errors.map(\.json))
        var frame: [UInt8] = []
        WebSocketFrameEncoder.appendHeader(.text, length: Int(body.length), into: &frame)
        if body.segments.count == 1, case .text(let bytes) = body.segments[0] {
            frame.append(contentsOf: bytes)
            return await socket.write(frame)
        }
        guard await socket.write(frame) else { return false }
        let source = ReplyBodySource(segments: body.segments)
        defer { source.close() }
        var remaining = body.length
        while remaining > 0 {
            var piece: [UInt8] = []
            do {
                try source.next(into: &piece, maxBytes: Int(min(remaining, 64 << 10)))
            } catch {
                endpoint.logger.error("an inline video could not be read mid-message", ["error": "\(error)"])
                return false  // the frame cannot be completed: the connection must end
            }
            guard !piece.isEmpty, Int64(piece.count) <= remaining else { return false }
            remaining -= Int64(piece.count)
            guard await socket.write(piece) else { return false }
        }
        return true
    }
}
