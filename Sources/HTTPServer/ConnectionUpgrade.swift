import HTTP1

/// What a handler answers: a response, and, for `101 Switching Protocols`, the protocol the
/// connection switches to once the response is out.
public struct Reply: Sendable {
    public var response: HTTPResponse
    public var upgrade: (any ConnectionUpgrade)?

    public init(_ response: HTTPResponse, upgrade: (any ConnectionUpgrade)? = nil) {
        self.response = response
        self.upgrade = upgrade
    }
}

/// A protocol a connection switches to (WebSocket, SPEC §15): it takes over the socket after
/// the `101` response went out, on the connection's executor, and the connection closes when
/// it returns. The connection still counts against the server's caps and is closed by shutdown.
public protocol ConnectionUpgrade: Sendable {
    func run(_ socket: UpgradedSocket) async
}

/// The socket of an upgraded connection.
///
/// Writes wait while the peer is not reading (its socket buffer is full), so a slow reader is
/// never buffered without bound; reads give first whatever the HTTP parser had read past the
/// upgrade request.
public struct UpgradedSocket: Sendable {
    let connection: Connection

    /// The next bytes from the peer, or why there are none: `.timedOut` once the peer has sent
    /// nothing for `idleTimeout` (since its last byte, not since this call), or once `within`
    /// has passed (an absolute limit the protocol keeps, e.g. to authenticate).
    public func read(idleTimeout: Duration, within: Duration? = nil) async -> UpgradedRead {
        await connection.upgradedRead(idleTimeout: idleTimeout, within: within)
    }

    /// Sends all of `bytes`; false if the connection is gone or the peer stopped reading for
    /// longer than the server's write timeout.
    public func write(_ bytes: [UInt8]) async -> Bool {
        await connection.upgradedWrite(bytes)
    }

    /// Makes the pending (or next) ``read(idleTimeout:)`` return `.interrupted` at once: how
    /// another task tells the protocol it has something to send. Callable from any thread.
    public func interrupt() {
        connection.onLoop { $0.interruptUpgradedRead() }
    }

    /// Runs `body` as a task of its own on this connection's loop and waits for it; cancelling
    /// the caller cancels it. A task's frames are kept until it ends, so a protocol that stays
    /// open for hours handles each message in one of these: what a message needed is freed when
    /// it is answered, not kept by every idle connection that once handled one.
    public func inTaskOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let task = Task(executorPreference: connection.loop, operation: body)
        return await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
    }

    /// After the protocol's last word: half-closes, then reads and drops what the peer still
    /// sends until it closes or the linger timeout passes. Return after it.
    public func finish() async {
        await connection.upgradedFinish()
    }

    /// Takes `bytes` from the server's budget for buffered request bodies (a message being
    /// reassembled is one); false when the server holds too much already.
    public func reserveBuffered(_ bytes: Int) -> Bool { connection.server.bodyBudget.reserve(bytes) }

    public func releaseBuffered(_ bytes: Int) { connection.server.bodyBudget.release(bytes) }

    /// Whether the server is shutting down (the protocol should say goodbye and return).
    public var isDraining: Bool {
        get async { await connection.isDraining }
    }
}
