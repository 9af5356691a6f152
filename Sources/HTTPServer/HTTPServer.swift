import Dispatch
import Glibc
import HTTP1
import Synchronization

/// An HTTP/1.1 server on POSIX sockets and Dispatch.
///
/// Lifecycle: ``start()`` binds and accepts; ``shutdown(gracePeriod:)`` stops accepting, closes
/// idle connections, lets in-flight requests finish (their responses carry `Connection: close`)
/// and force-closes whatever is left when the grace period ends.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: ServerConfiguration
    let responder: any Responder
    let dates = DateCache()
    /// Request body bytes in memory across all connections.
    let bodyBudget: BufferBudget
    private let controlQueue = DispatchQueue(label: "reelgate.accept")
    /// Whether the accept source is suspended after running out of descriptors. Only touched on
    /// ``controlQueue``.
    nonisolated(unsafe) private var acceptPaused = false

    private struct State {
        var listener: Int32 = -1
        var port = 0
        var acceptSource: SourceBox<any DispatchSourceRead>?
        var sweeper: SourceBox<any DispatchSourceTimer>?
        var connections: [UInt64: Connection] = [:]
        /// Open connections per client address.
        var perClient: [String: Int] = [:]
        var nextID: UInt64 = 1
        var draining = false
        var stopped = false
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let closeDescriptor: @Sendable (Int32) -> Void
    /// Refusals over a connection cap, drained before they are closed (at most 64 at once).
    private let refusals: RefusalLinger
    private let timeouts: ConnectionStateMachine.Timeouts

    public convenience init(configuration: ServerConfiguration, responder: any Responder) {
        self.init(configuration: configuration, responder: responder, closeDescriptor: { Glibc.close($0) })
    }

    /// - Parameter closeDescriptor: how a connection's socket is closed (a seam for tests that
    ///   put another socket at the number a closed connection had).
    init(configuration: ServerConfiguration, responder: any Responder, closeDescriptor: @escaping @Sendable (Int32) -> Void) {
        self.closeDescriptor = closeDescriptor
        self.configuration = configuration
        refusals = RefusalLinger(queue: controlQueue, capacity: 64, timeout: configuration.lingerTimeout, closeDescriptor: closeDescriptor)
        self.responder = responder
        bodyBudget = BufferBudget(capacity: configuration.maxBufferedBodyBytes)
        timeouts = ConnectionStateMachine.Timeouts(
            head: configuration.headTimeout.nanoseconds, idle: configuration.idleTimeout.nanoseconds,
            body: configuration.bodyTimeout.nanoseconds, write: configuration.writeTimeout.nanoseconds,
            linger: configuration.lingerTimeout.nanoseconds, bodyDeadline: configuration.bodyDeadline.nanoseconds,
            minimumBodyRate: UInt64(max(configuration.minimumBodyBytesPerSecond, 0)),
            minimumRateGrace: configuration.minimumRateGrace.nanoseconds)
    }

    /// The bound port (after ``start()``).
    public var port: Int { state.withLock { $0.port } }

    /// Open connections, including ones lingering after an error.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Request body bytes currently held in memory.
    public var bufferedBodyBytes: Int { bodyBudget.inUse }

    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Whether the listening socket is open and accepting.
    public var isAccepting: Bool { state.withLock { $0.acceptSource != nil } }

    /// Binds the listening socket and starts accepting.
    public func start() throws(SystemError) {
        HTTPServer.ignoreSIGPIPE()
        let (fd, port) = try Socket.makeListener(host: configuration.host, port: configuration.port)
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: controlQueue)
        source.setEventHandler { @Sendable [self] in acceptPending() }
        source.setCancelHandler { @Sendable in Glibc.close(fd) }

        let tick = max(min(timeouts.head, timeouts.idle, timeouts.body, timeouts.write, timeouts.linger) / 4, 2_000_000)
        let sweeper = DispatchSource.makeTimerSource(queue: controlQueue)
        let interval = DispatchTimeInterval.nanoseconds(Int(min(tick, 250_000_000)))
        sweeper.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(1))
        sweeper.setEventHandler { @Sendable [self] in sweep() }

        state.withLock {
            $0.listener = fd
            $0.port = port
            $0.acceptSource = SourceBox(source)
            $0.sweeper = SourceBox(sweeper)
        }
        source.resume()
        sweeper.resume()
    }

    /// Accepts what the kernel has queued, up to `limit` connections (a drain's last round must
    /// end even when new connections keep arriving).
    private func acceptPending(atMost limit: Int = .max) {
        var accepted = 0
        while accepted < limit {
            accepted += 1
            switch Socket.accept(listenerFD) {
            case .wouldBlock:
                return
            case .failed(let error):
                if error.errno == EMFILE || error.errno == ENFILE {
                    // Out of descriptors: pause accepting briefly instead of spinning on the event.
                    pauseAccepting(for: .milliseconds(100))
                }
                return
            case .accepted(let fd, let peer, let client):
                register(fd: fd, peer: peer, client: client)
            }
        }
    }

    private var listenerFD: Int32 { state.withLock { $0.listener } }

    private func register(fd: Int32, peer: String, client: String) {
        enum Decision { case accept(Connection), refuse(String) }
        let decision: Decision = state.withLock { s in
            if s.connections.count >= configuration.maxConnections { return .refuse("too many open connections") }
            if s.perClient[client, default: 0] >= configuration.maxConnectionsPerClient {
                return .refuse("too many open connections from this address")
            }
            let id = s.nextID
            s.nextID += 1
            let connection = Connection(
                id: id, fd: fd, peer: peer, clientAddress: client, server: self, loop: configuration.loops.next(), timeouts: timeouts,
                draining: s.draining)
            s.connections[id] = connection
            s.perClient[client, default: 0] += 1
            return .accept(connection)
        }
        switch decision {
        case .accept(let connection):
            connection.start()
        case .refuse(let reason):
            refuseOverCapacity(fd, reason: reason)
        }
    }

    /// Over a connection cap: a best-effort 503, holding nothing for the peer but (for a bounded
    /// number of refusals) the socket until its input is drained, as ``RefusalLinger`` says why.
    private func refuseOverCapacity(_ fd: Int32, reason: String) {
        var response = configuration.render(.serviceUnavailable, "serverBusy", reason)
        response.headers.add(name: "Retry-After", value: "1")
        var bytes: [UInt8] = []
        ResponseEncoder.encodeHead(response, contentLength: response.body.count, keepAlive: false, date: dates.current(), into: &bytes)
        if case .bytes(let body) = response.body { bytes += body }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        refusals.close(fd)
    }

    /// Suspends the accept source unless it already is; on the accept queue, like everything
    /// that suspends or resumes it (a drain resumes it to cancel it).
    private func suspendAcceptSource() -> SourceBox<any DispatchSourceRead>? {
        guard let box = state.withLock({ $0.acceptSource }), !acceptPaused else { return nil }
        acceptPaused = true
        box.source.suspend()
        return box
    }

    private func pauseAccepting(for delay: DispatchTimeInterval) {
        guard let box = suspendAcceptSource() else { return }
        controlQueue.asyncAfter(deadline: .now() + delay) { @Sendable [self] in
            guard acceptPaused else { return }  // the drain resumed it to cancel it
            acceptPaused = false
            box.source.resume()
        }
    }

    /// Hands every connection whose deadline passed back to its own queue to decide.
    private func sweep() {
        let now = monotonicNanos()
        let expired = state.withLock { s in
            s.connections.values.filter {
                let d = $0.deadline.load(ordering: .relaxed)
                return d != 0 && d <= now
            }
        }
        for connection in expired {
            connection.onLoop { $0.deadlinePassed() }
        }
    }

    func connectionClosed(_ id: UInt64) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            if let client = s.connections.removeValue(forKey: id)?.clientAddress {
                let left = s.perClient[client, default: 1] - 1
                s.perClient[client] = left > 0 ? left : nil
            }
            guard s.connections.isEmpty, s.draining else { return [] }
            defer { s.emptyWaiters = [] }
            return s.emptyWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Stops accepting and closes idle connections (each once it has answered a request the client
    /// had already sent); in-flight requests may finish.
    ///
    /// Connections the kernel completed but this server had not accepted yet are accepted first
    /// and drained like the others: closing the listener with them queued would reset each one,
    /// request and all. That last round runs on the accept queue, as does the whole drain, so a
    /// second caller returns only once the first has registered what it accepted (its shutdown
    /// then waits for those too). Must not be called on the accept queue.
    public func beginDraining() {
        dispatchPrecondition(condition: .notOnQueue(controlQueue))
        let first = controlQueue.sync { () -> Bool in
            let first = state.withLock { s in
                defer { s.draining = true }
                return !s.draining
            }
            guard first, let source = state.withLock({ $0.acceptSource })?.source else { return first }
            // The kernel's queue holds up to backlog + 1 completed connections.
            acceptPending(atMost: Socket.listenBacklog + 1)
            state.withLock { $0.acceptSource = nil }
            source.cancel()  // no event handler runs after this on the queue we are on
            if acceptPaused {
                acceptPaused = false
                source.resume()  // a suspended source never runs its cancel handler (which closes the listener)
            }
            return true
        }
        guard first else { return }
        refusals.closeAll()
        for connection in state.withLock({ Array($0.connections.values) }) {
            connection.onLoop { $0.drain() }
        }
    }

    /// Stops the accept source as running out of descriptors does, until a drain (a seam for
    /// tests that need connections left in the kernel's queue).
    func suspendAcceptingUntilDrain() {
        controlQueue.sync { _ = suspendAcceptSource() }
    }

    /// Graceful shutdown: drain, wait up to `gracePeriod` for open connections to finish, then
    /// close the rest.
    public func shutdown(gracePeriod: Duration) async {
        beginDraining()
        let forceClose = Task {
            try await Task.sleep(for: gracePeriod)
            self.closeAllConnections()
        }
        await waitUntilNoConnections()
        forceClose.cancel()
        let sweeper = state.withLock { s in
            s.stopped = true
            defer { s.sweeper = nil }
            return s.sweeper?.source
        }
        sweeper?.cancel()
    }

    /// Shutdown's deadline passed: every connection closes at once, whatever it is doing.
    func closeAllConnections() {
        for connection in state.withLock({ Array($0.connections.values) }) {
            connection.onLoop { $0.forceClose() }
        }
    }

    private func waitUntilNoConnections() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s in
                if s.connections.isEmpty { return true }
                s.emptyWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Writing to a socket the peer closed must fail with EPIPE, never kill the process. `send`
    /// uses MSG_NOSIGNAL too, but libcurl (with CURLOPT_NOSIGNAL) relies on this process-wide.
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }
}

/// Dispatch sources are thread-safe objects that Swift does not mark Sendable; this carries one
/// across the lock.
struct SourceBox<S>: @unchecked Sendable {
    let source: S
    init(_ source: S) { self.source = source }
}
