import Synchronization
import Testing

@testable import Gateway

/// The session table on its own: resume rules, TTL, the cap on detached sessions, and pushes that
/// race the subscription.
@Suite struct WebSocketSessionsTests {
    final class Wakes: Sendable {
        let count = Atomic<Int>(0)
        var wake: @Sendable () -> Void { { self.count.add(1, ordering: .relaxed) } }
        var value: Int { count.load(ordering: .relaxed) }
    }

    @Test func resumeWithinTheTTLWithTheSameKeyOnly() {
        let sessions = WebSocketSessions(ttl: 120)
        let wakes = Wakes()
        let first = sessions.open(keyName: "alice", resume: nil, now: 0, wake: wakes.wake)
        #expect(!first.resumed)
        sessions.detach(first.uuid, attachment: first.attachment, now: 10)
        #expect(sessions.open(keyName: "bob", resume: first.uuid, now: 20, wake: wakes.wake).uuid != first.uuid)
        let again = sessions.open(keyName: "alice", resume: first.uuid, now: 20, wake: wakes.wake)
        #expect(again.uuid == first.uuid && again.resumed)
        sessions.detach(again.uuid, attachment: again.attachment, now: 30)
        #expect(sessions.sweep(now: 149) == 0, "alice's session is past its TTL only after 150; bob's has its socket")
        #expect(sessions.sweep(now: 151) == 1)
        #expect(sessions.open(keyName: "alice", resume: first.uuid, now: 151, wake: wakes.wake).uuid != first.uuid)
    }

    @Test func aTakenOverSessionNoLongerReachesTheOldSocket() {
        let sessions = WebSocketSessions(ttl: 120)
        let old = Wakes(), new = Wakes()
        let a = sessions.open(keyName: "alice", resume: nil, now: 0, wake: old.wake)
        sessions.subscribe(a.uuid, attachment: a.attachment, tasks: ["t1"])
        let b = sessions.open(keyName: "alice", resume: a.uuid, now: 1, wake: new.wake)
        sessions.taskFinished("t1")
        #expect(old.value == 0 && new.value == 1)
        #expect(sessions.takeFinished(a.uuid, attachment: a.attachment).isEmpty)
        #expect(sessions.takeFinished(b.uuid, attachment: b.attachment) == ["t1"])
        #expect(sessions.takeFinished(b.uuid, attachment: b.attachment).isEmpty, "pushed once")
    }

    /// A push the old socket could not send after a resume took the session over goes to the
    /// new socket.
    @Test func anUnsentPushGoesToWhoeverHoldsTheSessionNow() {
        let sessions = WebSocketSessions(ttl: 120)
        let old = Wakes(), new = Wakes()
        let a = sessions.open(keyName: "alice", resume: nil, now: 0, wake: old.wake)
        sessions.subscribe(a.uuid, attachment: a.attachment, tasks: ["t1"])
        sessions.taskFinished("t1")
        #expect(sessions.takeFinished(a.uuid, attachment: a.attachment) == ["t1"])  // the old socket took it, then failed
        let b = sessions.open(keyName: "alice", resume: a.uuid, now: 1, wake: new.wake)
        sessions.queueFinished(a.uuid, attachment: a.attachment, tasks: ["t1"], orWhoeverHoldsIt: true)
        #expect(new.value == 1)
        #expect(sessions.takeFinished(b.uuid, attachment: b.attachment) == ["t1"])
    }

    @Test func aTaskThatFinishedBeforeTheSubscriptionIsPushedAtOnce() {
        let sessions = WebSocketSessions(ttl: 120)
        let wakes = Wakes()
        let s = sessions.open(keyName: "alice", resume: nil, now: 0, wake: wakes.wake)
        sessions.taskFinished("t1")
        sessions.subscribe(s.uuid, attachment: s.attachment, tasks: ["t1", "t2"])
        #expect(wakes.value == 1)
        #expect(sessions.takeFinished(s.uuid, attachment: s.attachment) == ["t1"])
        sessions.taskFinished("t2")
        #expect(sessions.takeFinished(s.uuid, attachment: s.attachment) == ["t2"])
    }

    @Test func detachedSessionsAreCapped() {
        let sessions = WebSocketSessions(ttl: 120, maxDetached: 100)
        let wakes = Wakes()
        let first = sessions.open(keyName: "k", resume: nil, now: 0, wake: wakes.wake)
        sessions.detach(first.uuid, attachment: first.attachment, now: 0)
        for i in 1...150 {
            let s = sessions.open(keyName: "k", resume: nil, now: Double(i), wake: wakes.wake)
            sessions.detach(s.uuid, attachment: s.attachment, now: Double(i))
        }
        #expect(sessions.counts.sessions <= 100)
        #expect(sessions.open(keyName: "k", resume: first.uuid, now: 151, wake: wakes.wake).uuid != first.uuid, "the oldest went first")
    }
}
