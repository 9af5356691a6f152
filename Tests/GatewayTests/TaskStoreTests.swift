import Domain
import Foundation
import Gateway
import SQLite
import TestSupport
import Testing

@Suite("TaskStore leases")
struct TaskStoreTests {
    func makeStore(_ dir: TempDirectory, clock: ClockBox) throws -> TaskStore {
        TaskStore(pool: try DatabasePool(path: dir.file("t.db"), migrator: Schema.migrator), clock: { clock.now })
    }

    func newTask(_ uuid: String = UUID().uuidString.lowercased()) -> NewTask {
        NewTask(uuid: uuid, apiKeyName: "k", model: "reelgate:simulator@1", requestJSON: "{}", requestHash: "h", format: "MP4",
                seeds: [1], videoUUIDs: [UUID().uuidString.lowercased()], parentVideoUUID: nil, maxInFlight: nil)
    }

    @Test func aStalledWorkersLeaseExpiresAndAnotherTakesOver() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try makeStore(dir, clock: clock)
        let task = newTask()
        #expect(try await store.submit([task]) == [.created])

        let claimedByA = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        #expect(claimedByA.state == .dispatching)
        #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)  // leased: nobody else gets it
        #expect(try await store.update(task.uuid, owner: "A", to: .running, fields: ["upstream_id": "up-1"]))

        clock.now += 31  // A stalls past its lease
        let claimedByB = try #require(try await store.claim(owner: "B", leaseSeconds: 30))
        #expect(claimedByB.uuid == task.uuid)
        #expect(claimedByB.state == .running)  // resumes where A left it, not from the start
        #expect(claimedByB.upstreamID == "up-1")  // so B polls the same upstream job: nothing paid twice
        #expect(claimedByB.attempts == 2)

        // A wakes up: its writes are refused, so it cannot undo B's work.
        #expect(try await !store.update(task.uuid, owner: "A", to: .failed))
        #expect(try await !store.renewLease(task.uuid, owner: "A", leaseSeconds: 30))
        #expect(try await store.update(task.uuid, owner: "B", to: .fetching))
        let events = try await store.events(task.uuid).map(\.detail)
        #expect(events.contains("lease expired; resumed by B"))
    }

    @Test func heartbeatKeepsTheLease() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try makeStore(dir, clock: clock)
        _ = try await store.submit([newTask()])
        let claimed = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        for _ in 0..<5 {
            clock.now += 20
            #expect(try await store.renewLease(claimed.uuid, owner: "A", leaseSeconds: 30))
            #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)
        }
    }

    @Test func retryableFaultsWaitInTheQueueUntilDue() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ClockBox(1000)
        let store = try makeStore(dir, clock: clock)
        _ = try await store.submit([newTask()])
        let claimed = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        #expect(try await store.requeue(claimed.uuid, owner: "A", at: 1010, reason: "upstream 503"))
        #expect(try await store.claim(owner: "B", leaseSeconds: 30) == nil)
        clock.now = 1010
        #expect(try await store.claim(owner: "B", leaseSeconds: 30)?.uuid == claimed.uuid)
    }
}
