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
/// itself renders and sends them, so nothing else ever writes to the socket. What each read and
/// each push takes runs in a task of its own (``UpgradedSocket/inTaskOfItsOwn(_:)``) that the loop
/// waits for, so an idle session holds only the loop's small frame.
struct RunwareSocketSession: ConnectionUpgrade {
    let endpoint: RunwareWebSocketEndpoint
    let remote: String

    /// The long-lived loop keeps nothing but what waiting needs: everything a read, a message or
    /// a push takes happens in a task of its own, whose frames go when it ends. (A task keeps the
    /// deepest stack it ever had; 10,000 idle sessions must not each keep the stack of handling a
    /// message.)
    func run(_ socket: UpgradedSocket) async {
        let conversation = Conversation(responder: MessageResponder(endpoint: endpoint, socket: socket, remote: remote))
        endpoint.openSockets.add(1, ordering: .relaxed)
        defer { endpoint.openSockets.subtract(1, ordering: .relaxed) }
        var ending: SocketEnding?
        while ending == nil {
            let finished = conversation.finishedTasks()
            if !finished.isEmpty {
                ending = await socket.inTaskOfItsOwn { await conversation.push(finished) }
                if ending != nil { break }
            }
            // Before authentication only its deadline counts (`readLimit`).
            let idle = conversation.state.principal == nil ? endpoint.settings.authenticationTimeout : endpoint.settings.idleTimeout
            let read = await socket.read(idleTimeout: idle, within: conversation.readLimit)
            ending = await socket.inTaskOfItsOwn { await conversation.consume(read) }
        }
        let last = ending ?? .gone
        await socket.inTaskOfItsOwn { await conversation.goodbye(last) }
    }
}

/// Who is on the socket: set by authentication, kept by the read loop.
struct SocketState: Sendable {
    var principal: Principal?
    var session: WebSocketSessions.Opened?
}

/// Why a socket's read loop ended.
enum SocketEnding: Sendable {
    /// The client sent a close frame (with this code, if any).
    case peerClosed(WebSocketCloseCode?)
    /// The client broke the protocol, or something it sent cannot be taken.
    case failed(WebSocketError)
    case idle
    case draining
    /// The socket is gone; nothing can be said.
    case gone
}

/// A socket's state: its parser and who authenticated. Touched only by its read loop and the
/// tasks that loop waits for, one at a time, all on the connection's event loop: hence the
/// unchecked `Sendable`.
private final class Conversation: @unchecked Sendable {
    let responder: MessageResponder
    var parser: WebSocketParser
    var state = SocketState()
    /// Bytes of the server's body budget held for the message being reassembled.
    var reservedBytes = 0

    init(responder: MessageResponder) {
        self.responder = responder
        parser = WebSocketParser(maxMessageBytes: responder.endpoint.settings.unauthenticatedMessageBytes)
    }

    var endpoint: RunwareWebSocketEndpoint { responder.endpoint }
    var socket: UpgradedSocket { responder.socket }

    let openedAt = ContinuousClock.now
    /// When the message being reassembled began, if one is.
    var messageStartedAt: ContinuousClock.Instant?

    /// What a read may wait at most besides the idle timeout: a socket must authenticate within
    /// the HTTP head's time from its upgrade (however often it pings), and a message must arrive
    /// whole within the HTTP body deadline (however slowly it trickles), as a request body must.
    var readLimit: Duration? {
        let now = ContinuousClock.now
        var limit: Duration?
        if state.principal == nil { limit = endpoint.settings.authenticationTimeout - (now - openedAt) }
        if let messageStartedAt {
            let left = endpoint.settings.messageDeadline - (now - messageStartedAt)
            limit = min(limit ?? left, left)
        }
        return limit
    }

    func finishedTasks() -> [String] {
        guard let session = state.session else { return [] }
        return endpoint.sessions.takeFinished(session.uuid, attachment: session.attachment)
    }

    /// Pushes finished tasks; what could not be sent waits in the session for a resume.
    func push(_ tasks: [String]) async -> SocketEnding? {
        let unsent = await responder.push(tasks)
        guard !unsent.isEmpty else { return nil }
        if let session = state.session {
            endpoint.sessions.queueFinished(session.uuid, attachment: session.attachment, tasks: unsent, orWhoeverHoldsIt: true)
        }
        return .gone
    }

    func goodbye(_ ending: SocketEnding) async {
        socket.releaseBuffered(reservedBytes)
        reservedBytes = 0
        await responder.goodbye(ending, state: state)
    }

    /// Acts on what a read gave; the ending if it ends the connection.
    func consume(_ read: UpgradedRead) async -> SocketEnding? {
        switch read {
        case .bytes(let bytes):
            parser.append(bytes)
            return await consumeEvents()
        case .interrupted: return nil
        case .timedOut:
            if state.principal == nil { return .failed(WebSocketError(.policyViolation, "not authenticated in time")) }
            if let messageStartedAt, ContinuousClock.now - messageStartedAt >= endpoint.settings.messageDeadline {
                return .failed(WebSocketError(.policyViolation, "message not received in time"))
            }
            return .idle
        case .draining: return .draining
        case .closed: return .gone
        }
    }

    /// Acts on every whole frame the parser has. Of pings read together only the last is
    /// answered (RFC 6455 §5.5.3 allows it): a read full of pings costs one write, not thousands.
    private func consumeEvents() async -> SocketEnding? {
        var ping: [UInt8]?
        func pong() async -> Bool {
            guard let payload = ping else { return true }
            ping = nil
            return await socket.write(WebSocketFrameEncoder.frame(.pong, payload: payload))
        }
        do {
            while let event = try parser.next() {
                switch event {
                case .text(let message):
                    guard await pong() else { return .gone }
                    messageStartedAt = nil
                    // The message keeps its share of the body budget while it is handled, as a
                    // REST body does until its response is out.
                    let (ending, after) = await responder.handle(message, state: state)
                    socket.releaseBuffered(reservedBytes)
                    reservedBytes = 0
                    state = after
                    parser.maxMessageBytes = after.principal == nil
                        ? endpoint.settings.unauthenticatedMessageBytes : endpoint.settings.maxMessageBytes
                    if let ending { return ending }
                case .ping(let payload):
                    ping = payload
                case .pong:
                    break  // unsolicited pongs are allowed and mean nothing
                case .close(let code, _):
                    guard await pong() else { return .gone }
                    return .peerClosed(code)
                }
            }
        } catch {
            return .failed(error)
        }
        guard await pong() else { return .gone }
        // A message being reassembled holds memory like a request body, under the same budget.
        let pending = parser.pendingMessageBytes + parser.bufferedByteCount
        if parser.pendingMessageBytes > 0, messageStartedAt == nil { messageStartedAt = .now }
        if pending > reservedBytes {
            guard socket.reserveBuffered(pending - reservedBytes) else {
                return .failed(WebSocketError(.tryAgainLater, "the server holds too many messages; retry"))
            }
            reservedBytes = pending
        }
        return nil
    }
}

/// Answers messages and pushes; stateless (the socket's state comes in and goes out), so it can
/// run in a task of its own.
private struct MessageResponder: Sendable {
    let endpoint: RunwareWebSocketEndpoint
    let socket: UpgradedSocket
    let remote: String

    var sessions: WebSocketSessions { endpoint.sessions }

    /// Answers one message: the ending if the connection ends because of it, and the socket's
    /// state after it.
    func handle(_ message: [UInt8], state before: SocketState) async -> (SocketEnding?, SocketState) {
        var state = before
        endpoint.metrics.increment("reelgate_websocket_messages_total", [("direction", "in")])
        var tasks: [JSONValue]
        let api = endpoint.api
        // A large message (inline images) is parsed and run off the loop, as a large REST body is.
        let parsed = message.count > TaskAPI.offLoopBodyBytes ? await offLoop { api.parseTasks(message) } : api.parseTasks(message)
        switch parsed {
        case .success(let list): tasks = list
        case .failure(let error): return (await send(TaskAPI.Reply(errors: [error])) ? nil : .gone, state)
        }
        guard !tasks.isEmpty else {
            let empty = APIErrorItem(code: .invalidRequest, message: "the message holds no task")
            return (await send(TaskAPI.Reply(errors: [empty])) ? nil : .gone, state)
        }
        if let first = tasks.first?.object, first["taskType"]?.string == "authentication" {
            tasks.removeFirst()
            guard let key = first["apiKey"]?.string, let principal = endpoint.authenticator.authenticate(key) else {
                let failure: TaskAPI.AuthenticationFailure = first["apiKey"]?.string == nil ? .missingKeyOnSocket : .invalidKey
                var reply = TaskAPI.Reply(errors: [TaskAPI.authenticationErrorItem(failure)])
                reply.errors += Self.unauthenticated(tasks, code: failure == .invalidKey ? .invalidApiKey : .missingApiKey)
                guard await send(reply) else { return (.gone, state) }
                endpoint.logger.warning("websocket authentication refused", ["remote": remote])
                try? await Task.sleep(for: endpoint.settings.badKeyCloseDelay)
                return (.failed(WebSocketError(.policyViolation, "authentication failed")), state)
            }
            let opened = authenticate(principal, resume: first["connectionSessionUUID"]?.string, current: state)
            state = SocketState(principal: principal, session: opened)
            let item = ResultItem(fields: ["taskType": "authentication", "connectionSessionUUID": .string(opened.uuid)])
            guard await send(TaskAPI.Reply(data: [item])) else { return (.gone, state) }
            guard !tasks.isEmpty else { return (nil, state) }
        }
        guard let principal = state.principal else {
            // Nothing is created before authentication; a heartbeat is still answered.
            let pongs = tasks.filter { $0.object?["taskType"]?.string == "ping" }.map { _ in
                ResultItem(fields: ["taskType": "ping", "pong": true])
            }
            let reply = TaskAPI.Reply(data: pongs, errors: Self.unauthenticated(tasks, code: .missingApiKey))
            return (await send(reply) ? nil : .gone, state)
        }
        let batch = tasks
        let reply = message.count > TaskAPI.offLoopBodyBytes
            ? await offLoop { await api.run(batch, principal: principal) } : await api.run(batch, principal: principal)
        let sent = await send(reply)
        if let session = state.session {
            sessions.subscribe(session.uuid, attachment: session.attachment, tasks: reply.watching)
            sessions.queueFinished(session.uuid, attachment: session.attachment, tasks: reply.finished)
        }
        return (sent ? nil : .gone, state)
    }

    /// An error for each task (pings aside) of a message without a usable key, with the task's
    /// own type and UUID: `taskType: "authentication"` would read as a failed login to the SDKs.
    private static func unauthenticated(_ tasks: [JSONValue], code: APIErrorCode) -> [APIErrorItem] {
        tasks.compactMap { task in
            let object = task.object
            guard object?["taskType"]?.string != "ping" else { return nil }
            return APIErrorItem(
                code: code, message: "authenticate first: send [{\"taskType\":\"authentication\",\"apiKey\":\"<key>\"}]",
                parameter: .one("apiKey"), taskType: object?["taskType"]?.string.map(APIErrorItem.echo),
                taskUUID: object?["taskUUID"]?.string.map(APIErrorItem.echo))
        }
    }

    private func authenticate(_ principal: Principal, resume: String?, current: SocketState) -> WebSocketSessions.Opened {
        // Authenticating again on the same socket with the same key keeps the session it has.
        if let session = current.session, current.principal?.name == principal.name, resume == nil || resume == session.uuid {
            return session
        }
        let now = Date().timeIntervalSince1970
        if let session = current.session { sessions.detach(session.uuid, attachment: session.attachment, now: now) }
        let socket = self.socket
        let opened = sessions.open(keyName: principal.name, resume: resume, now: now) { socket.interrupt() }
        endpoint.metrics.increment("reelgate_websocket_sessions_total", [("outcome", opened.resumed ? "resumed" : "new")])
        endpoint.logger.info(opened.resumed ? "websocket session resumed" : "websocket session opened", [
            "session": opened.uuid, "key": principal.name, "remote": remote,
        ])
        return opened
    }

    /// Pushes finished tasks' items, each exactly as `getResponse` would answer them; the tasks
    /// not sent (the socket went, or the store could not be read).
    func push(_ tasks: [String]) async -> [String] {
        for (index, task) in tasks.enumerated() {
            let record: TaskRecord?
            do {
                record = try await endpoint.api.store.find(task)
            } catch {
                endpoint.logger.error("a finished task could not be read for its push", ["task": task, "error": "\(error)"])
                return Array(tasks[index...])
            }
            guard let record, record.state.resultsAreFinal else { continue }
            endpoint.metrics.increment("reelgate_websocket_pushes_total")
            let items = await ResultItems.staged(ResultItems.items(for: record, media: endpoint.api.media), media: endpoint.api.media)
            guard await send(TaskAPI.Reply(data: items)) else { return Array(tasks[index...]) }
        }
        return []
    }

    /// The close frame (a client's close is echoed with its code), the log line, the session
    /// left to wait for a resume.
    func goodbye(_ ending: SocketEnding, state: SocketState) async {
        let (code, reason): (WebSocketCloseCode?, String) = switch ending {
        case .peerClosed(let code): (code, "closed by the client")
        case .failed(let error): (error.closeCode, error.reason)
        case .idle: (.normal, "idle timeout")
        case .draining: (.serviceRestart, "the server is restarting; reconnect")
        case .gone: (nil, "connection lost")
        }
        var frame: [UInt8]?
        switch ending {
        case .gone: frame = nil
        case .peerClosed: frame = WebSocketFrameEncoder.frame(.close, payload: code.map { WebSocketFrameEncoder.closePayload($0) } ?? [])
        default: frame = code.map { WebSocketFrameEncoder.frame(.close, payload: WebSocketFrameEncoder.closePayload($0, reason: reason)) }
        }
        if let frame, await socket.write(frame) { await socket.finish() }
        let codeText = code.map { String($0.rawValue) } ?? "none"
        endpoint.metrics.increment("reelgate_websocket_closes_total", [("code", codeText)])
        if let session = state.session {
            sessions.detach(session.uuid, attachment: session.attachment, now: Date().timeIntervalSince1970)
            endpoint.logger.info("websocket session detached", [
                "session": session.uuid, "key": state.principal?.name ?? "", "code": codeText, "reason": reason,
            ])
        }
    }

    /// Sends a reply as one text message. Inline videos are streamed into the frame a piece at a
    /// time as the socket drains (the frame's length is known up front), as REST streams them.
    func send(_ reply: TaskAPI.Reply) async -> Bool {
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
