import Foundation
import Synchronization

/// Runware WebSocket sessions (SPEC §15): who authenticated, which tasks each waits on, and
/// which of those finished and are still to be pushed.
///
/// A session outlives its socket for `ttl` seconds, so an SDK that reconnects with its
/// `connectionSessionUUID` (same key) finds its subscriptions again, and is pushed what finished
/// while it was away. Sessions live in this process's memory only: after a restart every UUID is
/// unknown, and a resume simply gets a new session (the SDKs resend and poll).
///
/// Concurrency: one mutex around plain dictionaries. Sockets (on event loops) open, subscribe
/// and take; workers (on the cooperative pool) report finished tasks; each call is short and
/// never waits for IO. A socket is told of a push through its `wake` closure, called outside
/// the lock.
final class WebSocketSessions: Sendable {
    struct Opened: Sendable {
        let uuid: String
        let resumed: Bool
        /// Identifies this socket's hold on the session: a later resume from another socket
        /// takes the session over, and the earlier one's calls no longer reach it.
        let attachment: UInt64
    }

    /// A class, changed in place under the lock: a struct copied out of the dictionary would
    /// copy its set of subscriptions on every change.
    private final class Session {
        let keyName: String
        var subscriptions: Set<String> = []
        /// Subscribed tasks whose results are final, in the order they finished, not yet pushed.
        var finished: [String] = []
        var attachment: UInt64?
        var wake: (@Sendable () -> Void)?
        var detachedAt: Double?

        init(keyName: String, attachment: UInt64, wake: @escaping @Sendable () -> Void) {
            self.keyName = keyName
            self.attachment = attachment
            self.wake = wake
        }
    }

    private struct State {
        var sessions: [String: Session] = [:]
        /// Task UUID → sessions waiting on it.
        var subscribers: [String: Set<String>] = [:]
        var nextAttachment: UInt64 = 1
        /// Tasks that finished lately, so a subscription that races the finish is not missed.
        var recent: Set<String> = []
        var recentOrder: [String] = []
        /// Sessions without a socket.
        var detached = 0
        /// Detached sessions in the order they were detached (with when), from `detachedHead` on.
        var detachedOrder: [(String, Double)] = []
        var detachedHead = 0
        /// Sessions opened, ever (for deciding when memory is worth trimming).
        var opened = 0
    }

    let ttl: Double
    let maxSubscriptionsPerSession: Int
    /// Detached sessions kept at most: a client that reconnects without resuming, again and
    /// again, leaves a session each time; past this the longest-detached go first.
    let maxDetached: Int
    private static let recentCapacity = 4096
    private let state = Mutex(State())

    init(ttl: Double, maxSubscriptionsPerSession: Int = 10_000, maxDetached: Int = 40_000) {
        self.ttl = ttl
        self.maxSubscriptionsPerSession = maxSubscriptionsPerSession
        self.maxDetached = maxDetached
    }

    /// Starts a session for `keyName`, or resumes `resume` if it is a live session of the same
    /// key; anything else (unknown, expired, another key's) gets a new session, never an error.
    func open(keyName: String, resume: String?, now: Double, wake: @escaping @Sendable () -> Void) -> Opened {
        let (opened, wakeNow): (Opened, Bool) = state.withLock { s in
            let attachment = s.nextAttachment
            s.nextAttachment += 1
            if let resume, let session = s.sessions[resume], session.keyName == keyName, !Self.expired(session, now: now, ttl: ttl) {
                if session.attachment == nil { s.detached -= 1 }
                session.attachment = attachment
                session.wake = wake
                session.detachedAt = nil
                return (Opened(uuid: resume, resumed: true, attachment: attachment), !session.finished.isEmpty)
            }
            let uuid = UUID().uuidString.lowercased()
            s.opened += 1
            s.sessions[uuid] = Session(keyName: keyName, attachment: attachment, wake: wake)
            return (Opened(uuid: uuid, resumed: false, attachment: attachment), false)
        }
        if wakeNow { wake() }
        return opened
    }

    /// The socket holding `attachment` went away: the session waits `ttl` for a resume.
    func detach(_ uuid: String, attachment: UInt64, now: Double) {
        state.withLock { s in
            guard let session = s.sessions[uuid], session.attachment == attachment else { return }
            session.attachment = nil
            session.wake = nil
            session.detachedAt = now
            s.detached += 1
            s.detachedOrder.append((uuid, now))
            // The longest-detached go first, found from the front of the detach order (entries
            // of sessions resumed or forgotten since are skipped).
            while s.detached > maxDetached, s.detachedHead < s.detachedOrder.count {
                let (oldest, at) = s.detachedOrder[s.detachedHead]
                s.detachedHead += 1
                if let session = s.sessions[oldest], session.attachment == nil, session.detachedAt == at { Self.forget(&s, oldest) }
            }
            if s.detachedHead > 1024, s.detachedHead * 2 > s.detachedOrder.count {
                s.detachedOrder.removeFirst(s.detachedHead)
                s.detachedHead = 0
            }
        }
    }

    /// Queues tasks whose results are final for a push to the socket holding `attachment`: tasks
    /// resubmitted after they finished. With `orWhoeverHoldsIt`, a push the socket holding
    /// `attachment` could not send: it goes to the session whichever socket holds it now (a resume
    /// may have taken it over meanwhile), or waits for one.
    func queueFinished(_ uuid: String, attachment: UInt64, tasks: [String], orWhoeverHoldsIt: Bool = false) {
        guard !tasks.isEmpty else { return }
        let wake: (@Sendable () -> Void)? = state.withLock { s in
            guard let session = s.sessions[uuid], orWhoeverHoldsIt || session.attachment == attachment else { return nil }
            for task in tasks where !session.finished.contains(task) { session.finished.append(task) }
            return session.wake
        }
        wake?()
    }

    /// The session waits on these tasks' results. A task that already finished (lately) is
    /// queued for a push at once.
    func subscribe(_ uuid: String, attachment: UInt64, tasks: [String]) {
        guard !tasks.isEmpty else { return }
        let wake: (@Sendable () -> Void)? = state.withLock { s in
            guard let session = s.sessions[uuid], session.attachment == attachment else { return nil }
            var finishedNow = false
            for task in tasks where !session.subscriptions.contains(task) {
                if s.recent.contains(task) {
                    if !session.finished.contains(task) { session.finished.append(task) }
                    finishedNow = true
                    continue
                }
                // Push is a courtesy on top of polling: past the cap, one (any) is dropped.
                if session.subscriptions.count >= maxSubscriptionsPerSession, let dropped = session.subscriptions.first {
                    session.subscriptions.remove(dropped)
                    Self.unindex(&s, task: dropped, session: uuid)
                }
                session.subscriptions.insert(task)
                s.subscribers[task, default: []].insert(uuid)
            }
            return finishedNow ? session.wake : nil
        }
        wake?()
    }

    /// A task's results are final: every session waiting on it gets it queued for a push.
    func taskFinished(_ task: String) {
        let wakes: [@Sendable () -> Void] = state.withLock { s in
            if s.recent.insert(task).inserted {
                s.recentOrder.append(task)
                if s.recentOrder.count > Self.recentCapacity {
                    s.recent.remove(s.recentOrder.removeFirst())
                }
            }
            guard let waiting = s.subscribers.removeValue(forKey: task) else { return [] }
            var wakes: [@Sendable () -> Void] = []
            for uuid in waiting {
                guard let session = s.sessions[uuid] else { continue }
                session.subscriptions.remove(task)
                session.finished.append(task)
                if let wake = session.wake { wakes.append(wake) }
            }
            return wakes
        }
        for wake in wakes { wake() }
    }

    /// The finished tasks to push to the socket holding `attachment`, oldest first.
    func takeFinished(_ uuid: String, attachment: UInt64) -> [String] {
        state.withLock { s in
            guard let session = s.sessions[uuid], session.attachment == attachment, !session.finished.isEmpty else { return [] }
            let tasks = session.finished
            session.finished = []
            return tasks
        }
    }

    /// Forgets sessions detached for longer than `ttl`; how many.
    @discardableResult
    func sweep(now: Double) -> Int {
        state.withLock { s in
            let expired = s.sessions.filter { Self.expired($0.value, now: now, ttl: ttl) }
            for (uuid, _) in expired { Self.forget(&s, uuid) }
            return expired.count
        }
    }

    /// Sessions opened since the process started.
    var openedCount: Int { state.withLock { $0.opened } }

    /// Sessions in memory, and how many of them have a socket.
    var counts: (sessions: Int, attached: Int) {
        state.withLock { s in (s.sessions.count, s.sessions.values.reduce(0) { $0 + ($1.attachment == nil ? 0 : 1) }) }
    }

    private static func expired(_ session: Session, now: Double, ttl: Double) -> Bool {
        guard let detachedAt = session.detachedAt else { return false }
        return now - detachedAt > ttl
    }

    private static func forget(_ s: inout State, _ uuid: String) {
        guard let session = s.sessions.removeValue(forKey: uuid) else { return }
        for task in session.subscriptions { unindex(&s, task: task, session: uuid) }
        if session.attachment == nil { s.detached -= 1 }
    }

    private static func unindex(_ s: inout State, task: String, session: String) {
        s.subscribers[task]?.remove(session)
        if s.subscribers[task]?.isEmpty == true { s.subscribers[task] = nil }
    }
}
