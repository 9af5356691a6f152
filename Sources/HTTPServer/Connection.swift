import CEpoll
import Glibc
import HTTP1
import Synchronization

/// One accepted TCP connection, served by one loop: read a request, let the responder answer
/// it, write the response, and again, until the connection ends or is handed to an upgrade.
///
/// Concurrency (the model of this whole layer): a connection is an actor whose serial executor
/// is its ``EventLoop``. The responder and its handlers are `nonisolated(nonsending)`: they run
/// isolated to the connection, with no executor switch to enter them, and the task running the
/// connection prefers its loop, so what they call in turn also runs on the loop's thread and an
/// `await` on the store comes back to it: two thread switches for a request that touches the
/// database, none for one that does not. The socket's readiness comes from the same loop
/// (edge-triggered epoll), whose callback resumes the one wait the loop may be in. The server's
/// sweeper reads the published ``deadline`` and tells the connection, on its loop, when it passed.
///
/// One request at a time: while a handler runs nothing is read (backpressure against pipelining
/// floods; responses stay in request order, RFC 9112 §9.3.2), except to notice the peer
/// resetting the connection, which cancels the handler's task.
actor Connection {
    nonisolated let id: UInt64
    /// Who the peer is for the per-client connection cap (``Socket/clientKey(_:)``).
    nonisolated let clientAddress: String
    nonisolated let loop: EventLoop
    /// When the current deadline passes (monotonic ns), 0 for none. Read by the server's sweeper.
    nonisolated let deadline = Atomic<UInt64>(0)
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    private static let readChunk = EventLoop.readBufferBytes
    private static let lingerDiscardLimit = 64 * 1024

    private let fd: Int32
    private let peer: String
    /// Strong: a connection's code can still run after its close removed it from the server (its
    /// task winds down), by which time a finished shutdown may have let the server go. The server
    /// lives while any of its connections does; its own reference to one ends at the close.
    let server: HTTPServer
    private var parser: RequestParser
    private var machine: ConnectionStateMachine
    /// Whether an upgraded protocol asked its read to be interrupted (it has something to send).
    private var interruptRequested = false
    /// When an upgraded connection last received a byte (monotonic ns; 0 before the upgrade).
    private var upgradedInputAt: UInt64 = 0

    /// The loop's watch on the socket; nil once closed.
    private var watchToken: UInt64?
    /// Edge-triggered readiness: set by the loop when the socket may have changed, cleared when a
    /// read or write meets EAGAIN. Both start set: the first attempt finds out.
    private var readReady = true
    private var writeReady = true
    private var closed = false
    private var peerClosedInput = false
    /// The loop reported the peer's FIN or a reset: the next read must go on until it sees the
    /// end, since no further edge will say so.
    private var peerHangupSeen = false

    /// The one wait the loop may be in. An unsafe continuation (no checking object allocated on
    /// every wait, which is every request): it is resumed only by ``wake(_:)``, which takes it
    /// out first, and everything that touches it is isolated to the connection.
    private enum Wake { case ready, timeout, drain, closed, interrupt }
    private enum WaitKind { case read, write }
    private var waiter: (kind: WaitKind, continuation: UnsafeContinuation<Wake, Never>)?

    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    /// The task running ``run()``, cancelled when the connection is reset or force-closed.
    private var serving: Task<Void, Never>?
    private var handling = false
    /// Bytes of the global body budget held for the current request.
    private var reservedBodyBytes = 0
    /// What to answer if the current body outgrows its admission.
    private var overLimitResponse: HTTPResponse?
    /// The route the current request's head was admitted for.
    private var admittedRoute: Router.Resolution?
    private var admittedIdentity: (any Sendable)?
    /// Bytes the parser had read past an upgrade request: the new protocol's first bytes.
    private var upgradeLeftover: [UInt8] = []

    /// - Parameter draining: accepted in a drain's last round, so it answers only what the client
    ///   already sent, with `Connection: close` (set here, before its loop can read anything).
    init(id: UInt64, fd: Int32, peer: String, clientAddress: String, server: HTTPServer, loop: EventLoop,
         timeouts: ConnectionStateMachine.Timeouts, draining: Bool) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.clientAddress = clientAddress
        self.server = server
        self.loop = loop
        parser = RequestParser(limits: server.configuration.limits)
        machine = ConnectionStateMachine(timeouts: timeouts, now: monotonicNanos())
        if draining { machine.beginDraining() }
    }

    /// Starts serving, from any thread.
    nonisolated func start() {
        onLoop { $0.attach() }
    }

    /// Runs `body` on the connection's loop, isolated to it, from any thread.
    nonisolated func onLoop(_ body: @escaping @Sendable (isolated Connection) -> Void) {
        loop.execute { self.assumeIsolated { body($0) } }
    }

    private func attach() {
        guard !closed else { return }
        guard let token = loop.watch(fd, { [self] flags in assumeIsolated { $0.onEvent(flags) } }) else { return close() }
        watchToken = token
        publishDeadline()
        serving = Task(executorPreference: loop) { await self.run() }
    }

    // MARK: The loop

    private func run() async {
        while !closed {
            switch await readRequest() {
            case .request(let request):
                switch await handle(request) {
                case .next: continue
                case .close: return close()
                case .upgrade(let upgrade):
                    // The new protocol runs as a task of its own, started when this one ends: an
                    // idle WebSocket keeps only its own frames, not those of the HTTP request that
                    // opened it (10,000 idle sessions, SPEC §15).
                    serving = Task(executorPreference: loop) {
                        await upgrade.run(UpgradedSocket(connection: self))
                        await self.close()
                    }
                    return
                }
            case .refuse(let response):
                // The byte stream can no longer be trusted to be framed as the peer meant (or
                // the request was refused before its body): answer, then close.
                if await write(response, isHead: false, keepAlive: false) { await linger() }
                return close()
            case .done:
                return close()
            }
        }
    }

    private enum AfterRequest {
        case next, close
        /// The response switched protocols: this one takes the socket.
        case upgrade(any ConnectionUpgrade)
    }

    /// Answers one request: what the connection does next.
    private func handle(_ request: Request) async -> AfterRequest {
        machine.requestDispatched()
        publishDeadline()
        handling = true  // a reset meanwhile cancels the handler (onEvent)
        let reply = await server.responder.respond(to: request)
        handling = false
        // The answer is written after the loop ran the rest of its ready work: a loop serving many
        // connections then sends their answers together, and a client process reading many of
        // them is woken once for several (writing each as soon as it was made cost a fifth of
        // the requests a second, measured on /healthz).
        await yieldToLoop()
        guard !closed else {
            // Never written: a body still being produced (an object arriving from a store) stops now.
            if case .stream(_, let source) = reply.response.body { source.close() }
            return .close
        }
        if let upgrade = reply.upgrade, reply.response.status == .switchingProtocols {
            guard await write(reply.response, isHead: false, keepAlive: true) else { return .close }
            releaseBodyBudget()
            upgradeLeftover = parser.takeBufferedBytes()
            parser = RequestParser(limits: parser.limits, reserving: 0)
            machine.upgraded(deadline: nil)
            return .upgrade(upgrade)
        }
        let keepAlive = request.head.keepAlive && !machine.draining && !peerClosedInput
        guard await write(reply.response, isHead: request.method == "HEAD", keepAlive: keepAlive) else { return .close }
        releaseBodyBudget()
        overLimitResponse = nil
        guard machine.responseFinished(now: monotonicNanos(), keepAlive: keepAlive) else {
            await linger()
            return .close
        }
        publishDeadline()
        return .next
    }

    // MARK: Reading

    private enum ReadOutcome {
        case request(Request)
        /// Answer this and close.
        case refuse(HTTPResponse)
        /// Close without a word: the peer left, the idle timeout passed, or shutdown.
        case done
    }

    private func readRequest() async -> ReadOutcome {
        var lookedBeforeEnding = false
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        while !closed {
            do {
                while let event = try parser.next() {
                    switch event {
                    case .head(let next):
                        if next.hasUnsupportedExpectation { return .refuse(render(.expectationFailed, "expectationFailed", "only 100-continue is supported")) }
                        if let refusal = admit(next) { return .refuse(refusal) }
                        head = next
                        if case .contentLength(let n) = next.framing { body.reserveCapacity(min(n, 64 << 10)) }
                        machine.headReceived(now: monotonicNanos())
                        if next.expectsContinue, next.hasBody, parser.bufferedByteCount == 0 {
                            // RFC 9110 §10.1.1: the client waits for this before sending the body;
                            // it goes out once the head is admitted (what a full socket keeps goes
                            // out ahead of the response).
                            outbound.append(contentsOf: ResponseEncoder.continueHead)
                            _ = sendOutbound()
                        }
                    case .body(let bytes):
                        // Counted as it arrives: a head promising 25 MB and sending nothing holds nothing.
                        guard server.bodyBudget.reserve(bytes.count) else { return .refuse(busy("the server is holding too many request bodies; retry")) }
                        reservedBodyBytes += bytes.count
                        body.append(contentsOf: bytes)
                        machine.bodyReceived(count: bytes.count, now: monotonicNanos())
                    case .end:
                        guard let head else { return .done }
                        var request = Request(head: head, body: body, remoteAddress: peer)
                        request.resolution = admittedRoute
                        request.admittedIdentity = admittedIdentity
                        admittedRoute = nil
                        admittedIdentity = nil
                        return .request(request)
                    }
                }
            } catch {
                if error == .bodyTooLarge, let response = overLimitResponse { return .refuse(response) }
                return .refuse(render(error.status, String(describing: error), error.message))
            }
            // More bytes are needed.
            if peerClosedInput { return .done }  // a half-read request can never complete
            if machine.draining, !parser.isMidRequest {
                // Shutdown began between requests: end, but only after reading what the socket
                // already holds, so a request the client sent before the drain (and the loop had
                // not read yet) is answered, with `Connection: close`, rather than reset unread.
                if lookedBeforeEnding { return .done }
                lookedBeforeEnding = true
                receive(inBody: false)
                continue
            }
            switch await wait(for: .read) {
            case .ready:
                receive(inBody: head != nil)
            case .timeout:
                switch machine.timeoutAction(now: monotonicNanos()) {
                case .requestTimeout: return .refuse(render(.requestTimeout, "requestTimeout", "request not received in time"))
                case .close: return .done
                case .none: continue
                }
            case .drain, .interrupt: continue
            case .closed: return .done
            }
        }
        return .done
    }

    /// Asks the responder how much of this body may be read, from the head alone; the response
    /// to answer instead, if nothing may.
    private func admit(_ head: HTTPRequestHead) -> HTTPResponse? {
        let admission = server.responder.admit(head)
        if let rejection = admission.rejection { return rejection }
        let limit = min(admission.maxBytes ?? parser.limits.maxBodyBytes, parser.limits.maxBodyBytes)
        overLimitResponse = admission.overLimit
        admittedRoute = admission.resolution
        admittedIdentity = admission.identity
        if case .contentLength(let length) = head.framing, length > limit {
            return admission.overLimit ?? render(.contentTooLarge, "bodyTooLarge", HTTPParseError.bodyTooLarge.message)
        }
        parser.limitBody(to: limit)
        return nil
    }

    /// Reads what the socket has (up to 64 KiB) into the parser.
    private func receive(inBody: Bool) {
        guard !closed else { return }  // the descriptor is gone, its number perhaps reused
        var received = 0
        while received < 4 * Connection.readChunk {
            let buffer = loop.readBuffer
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                received += n
                if n < Connection.readChunk {
                    // A short read emptied the socket: what arrives next is a new edge (a FIN too,
                    // as EPOLLRDHUP), so the recv that would only say EAGAIN is skipped (as nginx
                    // does): one system call fewer per request. Not when the hang-up was already
                    // reported with this data: the recv that sees it is the only news of it.
                    if !peerHangupSeen { readReady = false }
                    break
                }
            } else if n == 0 {
                peerClosedInput = true
                break
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    readReady = false
                    break
                }
                return close()
            }
        }
        if received > 0 { machine.bytesReceived(now: monotonicNanos(), inBody: inBody) }
    }

    private func releaseBodyBudget() {
        server.bodyBudget.release(reservedBodyBytes)
        reservedBodyBytes = 0
    }

    // MARK: Writing

    /// Writes a response whole; false when the connection closed instead (the peer went away,
    /// stopped reading, or the body could not be produced).
    private func write(_ original: HTTPResponse, isHead: Bool, keepAlive: Bool) async -> Bool {
        guard !closed else { return false }
        var response = original
        let sendsBody = !isHead && !response.status.forbidsBody
        var file: (fd: Int32, offset: Int64, remaining: Int64)?
        if case .file(let path, let offset, let length) = response.body, sendsBody {
            let fileFD = open(path, O_RDONLY | O_CLOEXEC)
            if fileFD >= 0 {
                file = (fileFD, offset, length)
            } else {
                response = render(.internalServerError, "mediaUnavailable", "file could not be opened")
            }
        }
        var stream: (source: any ResponseBodySource, remaining: Int64)?
        if case .stream(let length, let source) = response.body {
            if sendsBody, length > 0 { stream = (source, length) } else { source.close() }
        }
        defer {
            if let file { Glibc.close(file.fd) }
            stream?.source.close()
        }
        ResponseEncoder.encodeHead(
            response, contentLength: response.body.count, keepAlive: keepAlive, date: server.dates.current(), into: &outbound)
        if case .bytes(let bytes) = response.body, sendsBody { outbound.append(contentsOf: bytes) }
        machine.writeProgress(now: monotonicNanos())
        guard await flushOutbound() else { return false }
        while !closed, var current = file, current.remaining > 0 {
            var offset = off_t(current.offset)
            let n = sendfile(fd, current.fd, &offset, Int(min(current.remaining, 1 << 20)))
            if n > 0 {
                machine.writeProgress(now: monotonicNanos(), bytes: n)
                current.offset = Int64(offset)
                current.remaining -= Int64(n)
                file = current
                if current.remaining > 0 { await yieldToLoop() }
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                writeReady = false
                guard await waitWritable() else { return false }
            } else {
                // The file shrank under us or the peer went away: the framing promise is broken.
                close()
                return false
            }
        }
        // A streamed body: the next piece is pulled once the last is out, so at most one piece
        // (64 KiB) of it is ever in memory.
        let filling = stream?.source as? any FilledResponseBodySource  // asked once, not per piece
        while !closed, let current = stream, current.remaining > 0 {
            // The source is let go before the socket closes: whoever sees the close (the peer,
            // a test) may rely on the source being released already.
            do {
                try await filling?.ready()
                try current.source.next(into: &outbound, maxBytes: Int(min(current.remaining, 64 << 10)))
            } catch {
                current.source.close()
                stream = nil
                close()
                return false
            }
            let produced = Int64(outbound.count - outboundOffset)
            guard produced > 0, produced <= current.remaining else {
                current.source.close()
                stream = nil
                close()  // the source ended early or ran over: the framing promise is broken
                return false
            }
            stream?.remaining -= produced
            guard await flushOutbound() else { return false }
            if current.remaining > produced { await yieldToLoop() }
        }
        return !closed
    }

    /// Lets the loop's other connections have a turn: between pieces of a large body (a peer that
    /// reads as fast as we write would otherwise hold the loop until its whole body is out), and
    /// before an answer is written. (Not `Task.yield()`, a nonisolated function that leaves the
    /// actor to enqueue itself: this is one block on the loop and one resumption.)
    private func yieldToLoop() async {
        await withUnsafeContinuation { continuation in loop.execute { continuation.resume() } }
    }

    /// Sends `outbound`, waiting while the socket is full; false if the connection closed.
    private func flushOutbound() async -> Bool {
        while true {
            switch sendOutbound() {
            case .done: return true
            case .failed:
                close()
                return false
            case .wouldBlock:
                guard await waitWritable() else { return false }
            }
        }
    }

    private func waitWritable() async -> Bool {
        while !closed {
            switch await wait(for: .write) {
            case .ready: return true
            case .timeout:
                if machine.timeoutAction(now: monotonicNanos()) == .close {
                    close()
                    return false
                }
            case .drain, .interrupt: continue
            case .closed: return false
            }
        }
        return false
    }

    private enum SendOutcome { case done, wouldBlock, failed }

    /// Sends what `outbound` holds until done or the socket is full.
    private func sendOutbound() -> SendOutcome {
        guard !closed else { return .failed }  // e.g. closed while a streamed body was awaited
        while outboundOffset < outbound.count {
            let n = outbound.withUnsafeBytes { bytes in
                Glibc.send(fd, bytes.baseAddress! + outboundOffset, bytes.count - outboundOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outboundOffset += n
                // A response's bytes count toward its write rate; a 100 Continue is not one.
                if machine.phase == .writing { machine.writeProgress(now: monotonicNanos(), bytes: n) }
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                writeReady = false
                return .wouldBlock
            } else {
                return .failed
            }
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 64 * 1024)
        outboundOffset = 0
        return .done
    }

    /// After the last response: stop sending, then read and drop what the peer still sends until
    /// it closes or the linger deadline passes, so the response is not destroyed by an RST
    /// (RFC 9112 §9.6).
    private func linger() async {
        guard !closed else { return }
        shutdown(fd, Int32(SHUT_WR))
        machine.startLingering(now: monotonicNanos())
        var discarded = 0
        while !closed, !peerClosedInput, discarded <= Connection.lingerDiscardLimit {
            switch await wait(for: .read) {
            case .ready:
                while true {
                    let n = recv(fd, loop.readBuffer.baseAddress, loop.readBuffer.count, 0)
                    if n > 0 {
                        discarded += n
                        if discarded > Connection.lingerDiscardLimit { break }
                    } else if n < 0, errno == EINTR {
                        continue
                    } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                        readReady = false
                        break
                    } else {
                        peerClosedInput = true
                        break
                    }
                }
            case .timeout, .closed: return
            case .drain, .interrupt: continue
            }
        }
    }

    private func render(_ status: HTTPStatus, _ code: String, _ message: String) -> HTTPResponse {
        server.configuration.render(status, code, message)
    }

    private func busy(_ message: String) -> HTTPResponse {
        var response = render(.serviceUnavailable, "serverBusy", message)
        response.headers.set(name: "Retry-After", value: "1")
        return response
    }

    // MARK: Upgraded protocols

    func upgradedRead(idleTimeout: Duration, within limit: Duration?) async -> UpgradedRead {
        if upgradedInputAt == 0 { upgradedInputAt = monotonicNanos() }
        if !upgradeLeftover.isEmpty {
            defer { upgradeLeftover = [] }
            return .bytes(upgradeLeftover)
        }
        // Idle counts from the last byte received, not from this call: a protocol woken to send
        // (a push) must not extend a silent peer's time.
        var deadline = upgradedInputAt + idleTimeout.nanoseconds
        if let limit { deadline = min(deadline, monotonicNanos() + max(limit, .zero).nanoseconds) }
        while !closed, !peerClosedInput {
            if interruptRequested {
                interruptRequested = false
                return .interrupted
            }
            if machine.draining { return .draining }
            machine.upgraded(deadline: deadline)
            if deadline <= monotonicNanos() { return .timedOut }
            switch await wait(for: .read) {
            case .ready:
                let buffer = loop.readBuffer
                let n = recv(fd, buffer.baseAddress, buffer.count, 0)
                if n > 0 {
                    upgradedInputAt = monotonicNanos()
                    return .bytes(Array(buffer[0..<n]))
                }
                if n == 0 { peerClosedInput = true }
                if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { readReady = false }
                if n < 0, errno != EINTR, errno != EAGAIN, errno != EWOULDBLOCK { close() }
            case .timeout:
                if machine.timeoutAction(now: monotonicNanos()) == .close { return .timedOut }
            case .drain: return .draining
            case .interrupt: continue
            case .closed: return .closed
            }
        }
        return .closed
    }

    func upgradedWrite(_ bytes: [UInt8]) async -> Bool {
        guard !closed else { return false }
        outbound.append(contentsOf: bytes)
        if sendOutbound() == .done { return true }
        machine.upgraded(deadline: monotonicNanos() + server.configuration.writeTimeout.nanoseconds)
        return await flushOutbound()
    }

    /// Ends a wait in ``upgradedRead(idleTimeout:)`` (or the next one) with `.interrupted`.
    func interruptUpgradedRead() {
        interruptRequested = true
        if let waiter, waiter.kind == .read, machine.phase == .upgraded { wake(.interrupt) }
    }

    /// The upgraded protocol said goodbye: stop sending and let the peer's last bytes drain, so
    /// the goodbye is not lost to a reset (as after an HTTP error, RFC 9112 §9.6).
    func upgradedFinish() async {
        upgradeLeftover = []
        await linger()
    }

    var isDraining: Bool { machine.draining }

    // MARK: Waiting for the socket

    private func wait(for kind: WaitKind) async -> Wake {
        guard !closed else { return .closed }
        switch kind {
        case .read where readReady, .write where writeReady: return .ready
        default: break
        }
        publishDeadline()
        assert(waiter == nil, "a connection waits for one thing at a time")
        let woken = await withUnsafeContinuation { waiter = (kind, $0) }
        // A wake-up is a job queued on the loop, and a close can run before it (shutdown's
        // force-close, a deadline): the descriptor's number may then already belong to
        // another connection or file, so nothing may touch it after this.
        return closed ? .closed : woken
    }

    private func wake(_ wake: Wake) {
        guard let (_, continuation) = waiter else { return }
        waiter = nil
        continuation.resume(returning: wake)
    }

    /// The loop says the socket changed (edge-triggered).
    private func onEvent(_ flags: UInt32) {
        if closed { return }
        if flags & (CEPOLL_IN | CEPOLL_RDHUP | CEPOLL_HUP | CEPOLL_ERR) != 0 { readReady = true }
        if flags & (CEPOLL_RDHUP | CEPOLL_HUP | CEPOLL_ERR) != 0 { peerHangupSeen = true }
        if flags & (CEPOLL_OUT | CEPOLL_HUP | CEPOLL_ERR) != 0 { writeReady = true }
        if let waiter {
            switch waiter.kind {
            case .read where readReady, .write where writeReady: wake(.ready)
            default: break
            }
        } else if handling, flags & (CEPOLL_HUP | CEPOLL_ERR) != 0 {
            // Reset while a handler runs: the peer is gone, and the handler's work is of no use
            // to anyone. (A half-close is not this: the response may still be wanted.)
            serving?.cancel()
        }
    }

    // MARK: Timeouts, draining, closing

    /// The sweeper saw the deadline pass.
    func deadlinePassed() {
        guard !closed else { return }
        if machine.timeoutAction(now: monotonicNanos()) == .none { return publishDeadline() }
        if waiter != nil { wake(.timeout) }
    }

    /// Shutdown began: a connection waiting for its next request closes (after answering one the
    /// client had already sent); one mid-request or mid-response finishes it, and says
    /// `Connection: close`.
    func drain() {
        guard !closed else { return }
        machine.beginDraining()
        // One between requests ends in ``readRequest()``, once it has looked for a request
        // already sent; an idle wait is woken for that.
        if let waiter, waiter.kind == .read, !parser.isMidRequest { wake(.drain) }
    }

    /// Closes at once (shutdown's deadline): the handler's task is cancelled, any wait ends.
    func forceClose() {
        serving?.cancel()
        close()
    }

    /// Idempotent. The loop stops watching the descriptor before it is closed, so its number
    /// cannot be reused while still watched.
    private func close() {
        guard !closed else { return }
        closed = true
        machine.closed()
        deadline.store(0, ordering: .relaxed)
        releaseBodyBudget()
        if waiter != nil { wake(.closed) }
        if let watchToken { loop.unwatch(fd, token: watchToken) }
        watchToken = nil
        server.closeDescriptor(fd)
        server.connectionClosed(id)
    }

    private func publishDeadline() {
        deadline.store(machine.deadline ?? 0, ordering: .relaxed)
    }
}

/// What a read on an upgraded connection gave.
public enum UpgradedRead: Sendable, Equatable {
    case bytes([UInt8])
    /// ``UpgradedSocket/interrupt()`` was called: the protocol has something to send.
    case interrupted
    /// The peer closed, or the connection was closed.
    case closed
    /// No byte within the idle timeout.
    case timedOut
    /// The server is shutting down: say goodbye.
    case draining
}
