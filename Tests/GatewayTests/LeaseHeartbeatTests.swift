@testable import Gateway
import Synchronization
import Testing

@Suite("lease heartbeat")
struct LeaseHeartbeatTests {
    struct Busy: Error {}

    /// A renewal that fails once is tried again; twice in a row and the work stops: by then the
    /// lease may lapse before the next beat, and another worker may take the work over.
    @Test func renewalsThatKeepFailingStopTheWork() async throws {
        let calls = Atomic<Int>(0)
        await #expect(throws: LeaseLost.self) {
            try await withLeaseHeartbeat(every: .milliseconds(10), renew: {
                calls.add(1, ordering: .relaxed)
                throw Busy()
            }) {
                try await Task.sleep(for: .seconds(30))  // cancelled by the heartbeat
            }
        }
        #expect(calls.load(ordering: .relaxed) == 2)
    }

    @Test func oneFailedRenewalIsForgivenAndALostLeaseStopsAtOnce() async throws {
        let calls = Atomic<Int>(0)
        await #expect(throws: LeaseLost.self) {
            try await withLeaseHeartbeat(every: .milliseconds(10), renew: {
                // busy, held, busy, held, lost
                let n = calls.add(1, ordering: .relaxed).newValue
                if n == 5 { return false }
                if n % 2 == 1 { throw Busy() }
                return true
            }) {
                try await Task.sleep(for: .seconds(30))
            }
        }
        #expect(calls.load(ordering: .relaxed) == 5)
        // Work that finishes first returns its value, and the heartbeat stops with it.
        let value = try await withLeaseHeartbeat(every: .milliseconds(10), renew: { true }) { 42 }
        #expect(value == 42)
    }
}
