import Foundation
import Postgres
@testable import PostgresStore
import Store
import Synchronization
import TestSupport
import Testing

/// Group commit: what arrives while a group is written goes into the next one, answered each
/// with its own outcomes; a failing group is retried one submit at a time.
struct SubmitGroupsTests {
    static func task(_ uuid: String) -> NewTask {
        NewTask(uuid: uuid, apiKeyName: "k", model: "m", requestJSON: "{}", requestHash: uuid, format: "MP4", seeds: [1], videoUUIDs: [uuid + "-v"],
                parentVideoUUID: nil, maxInFlight: nil)
    }

    /// The writer under test: records each group's task ids; the first write waits until the
    /// test lets it go, so the others queue behind it; a task named "bad" fails its group.
    final class Writer: Sendable {
        let groups = Mutex<[[String]]>([])
        let gate = AsyncGate()

        func write(_ tasks: [NewTask]) async throws(PostgresError) -> [SubmitOutcome] {
            let first = groups.withLock { $0.append(tasks.map(\.uuid)); return $0.count == 1 }
            if first { await gate.wait() }
            if tasks.count > 1, tasks.contains(where: { $0.uuid == "bad" }) { throw PostgresError(.statement, message: "bad") }
            return tasks.map { $0.uuid == "bad" ? .conflict : .created }
        }
    }

    @Test func submitsThatArriveDuringAFlushGoTogether() async throws {
        let writer = Writer()
        let groups = SubmitGroups(flushes: 1) { tasks throws(PostgresError) in try await writer.write(tasks) }
        try await withThrowingTaskGroup(of: (String, [SubmitOutcome]).self) { group in
            group.addTask { ("first", try await groups.submit([Self.task("first")])) }
            while writer.groups.withLock({ $0.isEmpty }) { await Task.yield() }
            for i in 0..<50 { group.addTask { ("t\(i)", try await groups.submit([Self.task("t\(i)"), Self.task("t\(i)b")])) } }
            group.addTask { ("bad", try await groups.submit([Self.task("bad")])) }
            // Released once all 51 are queued behind the first write.
            while groups.queuedCount < 51 { await Task.yield() }
            writer.gate.open()
            for try await (name, outcomes) in group {
                #expect(outcomes == (name == "bad" ? [.conflict] : name == "first" ? [.created] : [.created, .created]), "\(name)")
            }
        }
        let sizes = writer.groups.withLock { $0.map(\.count) }
        // The first alone; then all 101 queued tasks in one group, which fails on "bad" and is
        // written again submit by submit (51 writes).
        #expect(sizes.first == 1)
        #expect(sizes[1] == 101)
        #expect(sizes.count == 2 + 51)
    }
}

/// Lets waiters through once opened.
final class AsyncGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let go = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if go { continuation.resume() }
        }
    }

    func open() {
        for waiter in state.withLock({ state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }) { waiter.resume() }
    }
}
