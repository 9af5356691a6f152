import Domain
import Testing

@Suite("TaskState")
struct TaskStateTests {
    @Test func happyPathIsAllowed() {
        let path: [TaskState] = [.queued, .dispatching, .running, .fetching, .delivering, .succeeded]
        for (a, b) in zip(path, path.dropFirst()) { #expect(a.canMove(to: b), "\(a) → \(b)") }
    }

    @Test func terminalStatesAreFinal() {
        for terminal in [TaskState.succeeded, .failed, .cancelled] {
            for next in TaskState.allCases { #expect(!terminal.canMove(to: next)) }
        }
    }

    @Test func skippingAheadIsRefused() {
        #expect(!TaskState.queued.canMove(to: .running))
        #expect(!TaskState.queued.canMove(to: .succeeded))
        #expect(!TaskState.running.canMove(to: .delivering))
        #expect(TaskState.running.canMove(to: .cancelled))
        #expect(TaskState.running.canMove(to: .queued))
    }
}
