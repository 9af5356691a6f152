import Dispatch
import Glibc
import HTTP1
import Synchronization

/// One accepted TCP connection.
///
/// Every mutable field is confined to `queue` (a serial queue that the read and write sources
/// also run on), which is what makes the `@unchecked Sendable` sound: other threads only touch
/// `deadline` (atomic) and call `complete(_:)`, which hops onto the queue.
///
/// One request is handled at a time. While a handler runs, reading pauses (backpressure against
/// pipelining floods, and responses stay in request order, RFC 9112 §9.3.2); when the response is
/// written, already-buffered pipelined requests are parsed before reading resumes.
final class Connection: @unchecked Sendable {
    static let queueKey = DispatchSpecificKey<UInt64>()
    private static let readChunk = 16 * 1024
    private static let lingerDiscardLimit = 64 * 1024

    let id: UInt64
    /// Who the peer is for the per-client connection cap (``Socket/clientKey(_:)``).
    let clientAddress: String
    let queue: DispatchQueue
    /// When the current deadline passes (monotonic ns), 0 for none. Read by the server's sweeper.
    let deadline = Atomic<UInt64>(0)

    private let fd: Int32
    private let peer: String
    private unowned let server: HTTPServer

    private var parser: RequestParser
    private var machine: ConnectionStateMachine
    private var readSource: (any DispatchSourceRead)?
    private var writeSource: (any DispatchSourceWrite)?
    private var readSuspended = false
    private var writeArmed = false
    private var pendingCancels = 0
    private var closed = false
    private var peerClosedInput = false
    private let scratch: UnsafeMutableRawBufferPointer

    // The request being read and the response being written.
    private var currentHead: HTTPRequestHead?
    private var body: [UInt8] = []
    private var requestKeepAlive = true
    private var requestIsHead = false
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var fileBody: (fd: Int32, offset: Int64, remaining: Int64)?
    private var streamBody: (source: any ResponseBodySource, remaining: Int64)?
    private var keepAliveAfterWrite = true
    /// Bytes of the global body budget this connection holds for the current request.
    private var reservedBodyBytes = 0
    /// What to answer if the current body outgrows what its admission allowed.
    private var overLimitResponse: HTTPResponse?

    // Re-entrancy guards: a handler may answer inline, and finishing a response may start the
    // next pipelined request; both are flattened into the loop in `processBuffered`.
    private var inDispatch = false
    private var inlineResponse: HTTPResponse?
    private var isProcessing = false
    private var lingerDiscarded = 0

    init(id: UInt64, fd: Int32, peer: String, clientAddress: String, server: HTTPServer, timeouts: ConnectionStateMachine.Timeouts) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.clientAddress = clientAddress
        self.server = server
        queue = DispatchQueue(label: "reelgate.connection", target: server.ioQueue)
        queue.setSpecific(key: Connection.queueKey, value: id)
        parser = RequestParser(limits: server.configuration.limits)
        machine = ConnectionStateMachine(timeouts: timeouts, now: monotonicNanos())
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Connection.readChunk, alignment: 16)
    }

    deinit {
        scratch.deallocate()
    }

    /// Starts reading. Called once, from any thread.
    func start() {
        queue.async { [self] in
            // Shutdown may have closed us before this block ran; the descriptor is gone then.
            guard !closed else { return }
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler { @Sendable [self] in onReadable() }
            source.setCancelHandler { @Sendable [self] in sourceCancelled() }
            pendingCancels += 1
            readSource = source
            publishDeadline()
            source.resume()
        }
    }

    // MARK: Reading

    private func onReadable() {
        if closed { return }
        if machine.phase == .lingering {
            discardInput()
            return
        }
        var received = 0
        while received < 4 * Connection.readChunk {
            let n = recv(fd, scratch.baseAddress, scratch.count, 0)
            if n > 0 {
                parser.append(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                received += n
                if n < scratch.count { break }
            } else if n == 0 {
                peerClosedInput = true
                break
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { break }
                close()
                return
            }
        }
        if received > 0 {
            machine.bytesReceived(now: monotonicNanos(), inBody: currentHead != nil)
        }
        processBuffered()
    }

    /// Parses and dispatches what is buffered, one request at a time.
    private func processBuffered() {
        guard !isProcessing else { return }
        isProcessing = true
        defer { isProcessing = false }

        while !closed, machine.phase != .handling, machine.phase != .writing, machine.phase != .lingering {
            let event: HTTPParserEvent?
            do {
                event = try parser.next()
            } catch {
                if error == .bodyTooLarge, let response = overLimitResponse {
                    fail(with: response)
                } else {
                    fail(status: error.status, code: String(describing: error), message: error.message)
                }
                return
            }
            guard let event else { break }
            switch event {
            case .head(let head):
                if head.hasUnsupportedExpectation {
                    fail(status: .expectationFailed, code: "expectationFailed", message: "only 100-continue is supported")
                    return
                }
                guard admit(head) else { return }
                currentHead = head
                body = []
                if case .contentLength(let n) = head.framing { body.reserveCapacity(min(n, 64 << 10)) }
                machine.headReceived(now: monotonicNanos())
                if head.expectsContinue, head.hasBody, parser.bufferedByteCount == 0 {
                    // RFC 9110 §10.1.1: the client waits for this before sending the body; it is
                    // sent only once the head has been admitted.
                    outbound.append(contentsOf: ResponseEncoder.continueHead)
                    flushInterim()
                }
            case .body(let bytes):
                // Counted as it arrives, not as announced: a head promising 25 MB and sending
                // nothing holds nothing.
                guard server.bodyBudget.reserve(bytes.count) else {
                    failBusy()
                    return
                }
                reservedBodyBytes += bytes.count
                body.append(contentsOf: bytes)
                machine.bodyReceived(count: bytes.count, now: monotonicNanos())
            case .end:
                dispatch()
            }
        }
        guard !closed else { return }

        switch machine.phase {
        case .handling, .writing:
            suspendReading()
        case .lingering:
            break
        default:
            if peerClosedInput {
                // The peer will send nothing more; a half-read request can never complete.
                close()
                return
            }
            resumeReading()
        }
        publishDeadline()
    }

    /// Asks the responder how much of this body may be read, from the head alone; answers and
    /// closes if nothing may.
    private func admit(_ head: HTTPRequestHead) -> Bool {
        let admission = server.responder.admit(head)
        if let rejection = admission.rejection {
            fail(with: rejection)
            return false
        }
        let limit = min(admission.maxBytes ?? parser.limits.maxBodyBytes, parser.limits.maxBodyBytes)
        overLimitResponse = admission.overLimit
        if case .contentLength(let length) = head.framing {
            guard length <= limit else {
                if let response = admission.overLimit {
                    fail(with: response)
                } else {
                    fail(status: .contentTooLarge, code: "bodyTooLarge", message: HTTPParseError.bodyTooLarge.message)
                }
                return false
            }
        }
        parser.limitBody(to: limit)
        return true
    }

    private func releaseBodyBudget() {
        server.bodyBudget.release(reservedBodyBytes)
        reservedBodyBytes = 0
    }

    private func dispatch() {
        guard let head = currentHead else { return }
        currentHead = nil
        let request = Request(head: head, body: body, remoteAddress: peer)
        body = []
        requestKeepAlive = head.keepAlive
        requestIsHead = head.method == "HEAD"
        machine.requestDispatched()
        publishDeadline()

        inDispatch = true
        server.responder.respond(to: request) { @Sendable [self] response in complete(response) }
        inDispatch = false
        if let response = inlineResponse {
            inlineResponse = nil
            send(response)
        }
    }

    /// Receives the handler's response, on whatever thread it finished.
    private func complete(_ response: HTTPResponse) {
        if DispatchQueue.getSpecific(key: Connection.queueKey) == id {
            if inDispatch {
                inlineResponse = response
            } else {
                send(response)
                processBuffered()
            }
        } else {
            queue.async { [self] in
                send(response)
                processBuffered()
            }
        }
    }

    // MARK: Writing

    private func send(_ original: HTTPResponse) {
        guard !closed else { return }
        var response = original
        var file: (fd: Int32, offset: Int64, remaining: Int64)?
        if case .file(let path, let offset, let length) = response.body, !requestIsHead, !response.status.forbidsBody {
            let fileFD = open(path, O_RDONLY | O_CLOEXEC)
            if fileFD >= 0 {
                file = (fileFD, offset, length)
            } else {
                response = server.configuration.errorResponse(.internalServerError, "mediaUnavailable", "file could not be opened")
            }
        }
        let keepAlive = requestKeepAlive && !machine.draining && !peerClosedInput
        ResponseEncoder.encodeHead(
            response, contentLength: response.body.count, keepAlive: keepAlive, date: server.dates.current(),
            into: &outbound)
        let sendsBody = !requestIsHead && !response.status.forbidsBody
        switch response.body {
        case .bytes(let bytes) where sendsBody:
            outbound.append(contentsOf: bytes)
        case .stream(let length, let source):
            if sendsBody, length > 0 { streamBody = (source, length) } else { source.close() }
        default:
            break
        }
        fileBody = file
        keepAliveAfterWrite = keepAlive
        flush()
    }

    /// Writes what is pending; arms the write source when the socket is full.
    private func flush() {
        machine.writeProgress(now: monotonicNanos())
        guard drainOutbound() else { return }
        while var file = fileBody, file.remaining > 0 {
            var offset = off_t(file.offset)
            let n = sendfile(fd, file.fd, &offset, Int(min(file.remaining, 1 << 20)))
            if n > 0 {
                machine.writeProgress(now: monotonicNanos(), bytes: n)
                file.offset = Int64(offset)
                file.remaining -= Int64(n)
                fileBody = file
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                armWrite()
                return
            } else {
                // The file shrank under us or the peer went away: the framing promise is broken.
                close()
                return
            }
        }
        if let file = fileBody {
            Glibc.close(file.fd)
            fileBody = nil
        }
        // A streamed body: pull the next piece once the last one is out, so at most one piece
        // (64 KiB) of it is ever in memory.
        while let stream = streamBody, stream.remaining > 0 {
            do {
                try stream.source.next(into: &outbound, maxBytes: Int(min(stream.remaining, 64 << 10)))
            } catch {
                close()
                return
            }
            let produced = Int64(outbound.count)
            guard produced > 0, produced <= stream.remaining else {
                close()  // the source ended early or ran over: the framing promise is broken
                return
            }
            streamBody?.remaining -= produced
            guard drainOutbound() else { return }
        }
        if let stream = streamBody {
            stream.source.close()
            streamBody = nil
        }
        disarmWrite()
        finishResponse()
    }

    /// Sends the 100 Continue interim response without changing phase; if the socket is full,
    /// the rest goes out ahead of the final response.
    private func flushInterim() {
        _ = sendOutbound()
    }

    /// Sends what `outbound` holds; false when the socket is full (the write source is then
    /// armed) or the send failed (the connection is then closed).
    private func drainOutbound() -> Bool {
        switch sendOutbound() {
        case .done: return true
        case .wouldBlock: armWrite()
        case .failed: close()
        }
        return false
    }

    private enum SendOutcome { case done, wouldBlock, failed }

    /// Sends the pending bytes in `outbound` until done or the socket is full.
    private func sendOutbound() -> SendOutcome {
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
                return .wouldBlock
            } else {
                return .failed
            }
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 64 * 1024)
        outboundOffset = 0
        return .done
    }

    private func finishResponse() {
        releaseBodyBudget()
        overLimitResponse = nil
        if machine.responseFinished(now: monotonicNanos(), keepAlive: keepAliveAfterWrite) {
            publishDeadline()
            // The caller (or the write source handler) continues with processBuffered().
        } else {
            closeGracefully()
        }
    }

    private func armWrite() {
        publishDeadline()
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler { @Sendable [self] in
                guard !closed else { return }
                flush()
                if !writeArmed { processBuffered() }
            }
            source.setCancelHandler { @Sendable [self] in sourceCancelled() }
            pendingCancels += 1
            writeSource = source
            writeArmed = true
            source.resume()
        } else if !writeArmed {
            writeArmed = true
            writeSource?.resume()
        }
    }

    private func disarmWrite() {
        if writeArmed {
            writeArmed = false
            writeSource?.suspend()
        }
    }

    // MARK: Errors, timeouts, closing

    /// Answers a request that cannot be served and closes after it.
    private func fail(status: HTTPStatus, code: String, message: String) {
        fail(with: server.configuration.errorResponse(status, code, message))
    }

    private func fail(with response: HTTPResponse) {
        currentHead = nil
        body = []
        requestKeepAlive = false
        requestIsHead = false
        suspendReading()
        send(response)
    }

    /// The global body budget is spent: a 503 the client can retry.
    private func failBusy() {
        var response = server.configuration.errorResponse(.serviceUnavailable, "serverBusy", "the server is holding too many request bodies; retry")
        response.headers.set(name: "Retry-After", value: "1")
        fail(with: response)
    }

    /// Called on the queue when the sweeper saw the deadline pass.
    func checkTimeout() {
        guard !closed else { return }
        switch machine.timeoutAction(now: monotonicNanos()) {
        case .none:
            publishDeadline()
        case .requestTimeout:
            fail(status: .requestTimeout, code: "requestTimeout", message: "request not received in time")
        case .close:
            close()
        }
    }

    /// Shutdown began: close now if between requests, else after the current response.
    func drain() {
        guard !closed else { return }
        if machine.beginDraining(), !parser.isMidRequest {
            close()
        }
    }

    /// Closes after a response: stop sending, then read and drop what the peer still sends until
    /// it closes or the linger deadline passes, so our last response is not destroyed by an RST
    /// (RFC 9112 §9.6).
    private func closeGracefully() {
        guard !closed else { return }
        shutdown(fd, Int32(SHUT_WR))
        machine.startLingering(now: monotonicNanos())
        publishDeadline()
        if peerClosedInput {
            close()
        } else {
            resumeReading()
        }
    }

    private func discardInput() {
        while true {
            let n = recv(fd, scratch.baseAddress, scratch.count, 0)
            if n > 0 {
                lingerDiscarded += n
                if lingerDiscarded > Connection.lingerDiscardLimit {
                    close()
                    return
                }
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                close()
                return
            }
        }
    }

    /// Closes at once. Idempotent; the descriptor is closed once every source has been cancelled,
    /// so its number cannot be reused while libdispatch still watches it.
    func close() {
        guard !closed else { return }
        closed = true
        machine.closed()
        deadline.store(0, ordering: .relaxed)
        if let file = fileBody {
            Glibc.close(file.fd)
            fileBody = nil
        }
        if let stream = streamBody {
            stream.source.close()
            streamBody = nil
        }
        releaseBodyBudget()
        if let source = writeSource {
            if !writeArmed { source.resume() }
            writeArmed = true
            source.cancel()
        }
        if let source = readSource {
            if readSuspended { source.resume() }
            readSuspended = false
            source.cancel()
        }
        if pendingCancels == 0 { finishClose() }
    }

    private func sourceCancelled() {
        pendingCancels -= 1
        if pendingCancels == 0, closed { finishClose() }
    }

    private func finishClose() {
        Glibc.close(fd)
        server.connectionClosed(id)
    }

    private func suspendReading() {
        if !readSuspended, let source = readSource {
            readSuspended = true
            source.suspend()
        }
    }

    private func resumeReading() {
        if readSuspended, let source = readSource {
            readSuspended = false
            source.resume()
        }
    }

    private func publishDeadline() {
        deadline.store(machine.deadline ?? 0, ordering: .relaxed)
    }
}
