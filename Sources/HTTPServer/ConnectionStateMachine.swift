/// The timing and keep-alive policy of one connection, as a pure value.
///
/// The IO code reports what happened; this decides which deadline applies and what to do when it
/// passes. Keeping it free of sockets means every timeout rule is tested with a manual clock
/// (Hummingbird's `HTTPConnectionStateHandler.StateMachine` does the same).
public struct ConnectionStateMachine: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// Between requests (or before the first): waiting for a first byte.
        case idle
        /// Some bytes of a head arrived; the whole head must arrive by the head deadline.
        case readingHead
        case readingBody
        /// A handler has the request; no deadline of ours applies.
        case handling
        case writing
        /// Error response sent, output shut down, discarding input until the linger deadline.
        case lingering
        /// Switched to another protocol, which sets its own deadlines.
        case upgraded
        case closed
    }

    public enum TimeoutAction: Sendable, Equatable {
        case none
        /// Answer 408 and close: the peer started a request and stalled.
        case requestTimeout
        /// Close without a word: idle keep-alive, stalled writes, lingering done.
        case close
    }

    public struct Timeouts: Sendable, Equatable {
        public var head: UInt64
        public var idle: UInt64
        /// The longest pause between two pieces of a body.
        public var body: UInt64
        public var write: UInt64
        public var linger: UInt64
        /// The longest a whole body may take from its head, however steadily it arrives.
        public var bodyDeadline: UInt64
        /// The slowest average body rate (bytes per second), counted from `minimumRateGrace`
        /// after the head; 0 for none. A body trickling a byte every few seconds never pauses
        /// long enough for `body`, but falls behind this at once.
        public var minimumBodyRate: UInt64
        public var minimumRateGrace: UInt64
        public init(
            head: UInt64, idle: UInt64, body: UInt64, write: UInt64, linger: UInt64, bodyDeadline: UInt64 = .max,
            minimumBodyRate: UInt64 = 0, minimumRateGrace: UInt64 = 5_000_000_000
        ) {
            self.head = head
            self.idle = idle
            self.body = body
            self.write = write
            self.linger = linger
            self.bodyDeadline = bodyDeadline
            self.minimumBodyRate = minimumBodyRate
            self.minimumRateGrace = minimumRateGrace
        }
    }

    public private(set) var phase: Phase = .idle
    /// Nanoseconds on a monotonic clock; `nil` when no deadline applies.
    public private(set) var deadline: UInt64?
    public private(set) var draining = false
    let timeouts: Timeouts
    /// The current body: when its head ended, when a piece last arrived, bytes so far.
    private var bodyStarted: UInt64 = 0
    private var lastBodyActivity: UInt64 = 0
    private var bodyBytes: UInt64 = 0
    /// The current response: when writing began, when bytes last went out, bytes so far.
    private var writeStarted: UInt64 = 0
    private var lastWrite: UInt64 = 0
    private var writtenBytes: UInt64 = 0

    public init(timeouts: Timeouts, now: UInt64) {
        self.timeouts = timeouts
        deadline = now + timeouts.idle
    }

    /// Bytes arrived. `inBody` says whether they continue a request body (else they begin or
    /// continue a head).
    public mutating func bytesReceived(now: UInt64, inBody: Bool) {
        switch phase {
        case .idle:
            if inBody {
                startBody(now: now)
            } else {
                phase = .readingHead
                deadline = now + timeouts.head
            }
        case .readingHead:
            if inBody { startBody(now: now) }  // else the absolute head deadline stands: trickling bytes does not extend it.
        case .readingBody:
            lastBodyActivity = now
            deadline = bodyDeadline()
        default:
            break
        }
    }

    /// The head is complete and the body (if any) is next.
    public mutating func headReceived(now: UInt64) {
        guard phase == .readingHead || phase == .idle else { return }
        startBody(now: now)
    }

    /// `count` bytes of body content arrived.
    public mutating func bodyReceived(count: Int, now: UInt64) {
        guard phase == .readingBody else { return }
        bodyBytes += UInt64(count)
        lastBodyActivity = now
        deadline = bodyDeadline()
    }

    private mutating func startBody(now: UInt64) {
        phase = .readingBody
        bodyStarted = now
        lastBodyActivity = now
        bodyBytes = 0
        deadline = bodyDeadline()
    }

    /// The earliest of: the pause limit, the whole-body limit, and the moment the body falls
    /// behind the minimum rate.
    private func bodyDeadline() -> UInt64 {
        min(plus(lastBodyActivity, timeouts.body), plus(bodyStarted, timeouts.bodyDeadline),
            rateDeadline(started: bodyStarted, bytes: bodyBytes))
    }

    /// When a transfer that began at `started` and moved `bytes` falls behind the minimum rate.
    private func rateDeadline(started: UInt64, bytes: UInt64) -> UInt64 {
        guard timeouts.minimumBodyRate > 0 else { return .max }
        let earned = bytes >= .max / 1_000_000_000 ? .max : bytes * 1_000_000_000 / timeouts.minimumBodyRate
        return plus(plus(started, timeouts.minimumRateGrace), earned)
    }

    private func plus(_ a: UInt64, _ b: UInt64) -> UInt64 { a > .max - b ? .max : a + b }

    public mutating func requestDispatched() {
        phase = .handling
        deadline = nil
    }

    /// The response is being written; `bytes` more went out. A reader must keep up with the
    /// pause limit and the minimum rate, as a body sender must: a client reading a byte now
    /// and then cannot hold a connection (and the response's buffers) for ever.
    public mutating func writeProgress(now: UInt64, bytes: Int = 0) {
        guard phase != .lingering, phase != .closed else { return }
        if phase != .writing {
            phase = .writing
            writeStarted = now
            writtenBytes = 0
        }
        writtenBytes += UInt64(bytes)
        lastWrite = now
        deadline = min(plus(lastWrite, timeouts.write), rateDeadline(started: writeStarted, bytes: writtenBytes))
    }

    /// The response went out. Returns whether the connection stays open for another request.
    public mutating func responseFinished(now: UInt64, keepAlive: Bool) -> Bool {
        guard keepAlive, !draining else {
            phase = .closed
            deadline = nil
            return false
        }
        phase = .idle
        deadline = now + timeouts.idle
        return true
    }

    public mutating func startLingering(now: UInt64) {
        phase = .lingering
        deadline = now + timeouts.linger
    }

    /// Another protocol has the connection; `deadline` is its own (an idle or write limit).
    public mutating func upgraded(deadline: UInt64?) {
        phase = .upgraded
        self.deadline = deadline
    }

    public mutating func closed() {
        phase = .closed
        deadline = nil
    }

    /// Shutdown began. Returns whether the connection can close right now (nothing in progress).
    @discardableResult
    public mutating func beginDraining() -> Bool {
        draining = true
        return phase == .idle
    }

    /// What to do at `now`, when a deadline may have passed.
    public func timeoutAction(now: UInt64) -> TimeoutAction {
        guard let deadline, now >= deadline else { return .none }
        switch phase {
        case .readingHead, .readingBody: return .requestTimeout
        case .idle, .writing, .lingering, .upgraded: return .close
        case .handling, .closed: return .none
        }
    }
}
