import Foundation
import Domain
import Testing

/// The lifecycle of SPEC §3 as a table: for every event, the state each task state moves to
/// (nil: the event cannot happen there). Every cell of states × events is checked, so a
/// transition added or removed by mistake fails here.
@Suite("TaskLifecycle")
struct TaskLifecycleTests {
    static let webhook = NewDelivery(videoUUID: "v", kind: .webhook, url: "https://h/", messageID: "m")

    /// Columns: queued, dispatching, running, fetching, delivering, succeeded, failed, cancelled.
    static let table: [(event: TaskEvent, next: [TaskState?])] = [
        (.claimed, [.dispatching, nil, nil, nil, nil, nil, nil, nil]),
        (.resumed, [nil, .dispatching, .running, .fetching, nil, nil, nil, nil]),
        (.submitted(provider: "p", upstream: UpstreamJob(ids: ["u"]), deadline: 1), [nil, .running, nil, nil, nil, nil, nil, nil]),
        (.resumedUpstream, [nil, .running, nil, nil, nil, nil, nil, nil]),
        (.fellBack(from: "a", to: "b", failure: "503"), [nil, .dispatching, nil, nil, nil, nil, nil, nil]),
        (.waitingForCapacity(provider: "p", retryAt: 1), [nil, .queued, nil, nil, nil, nil, nil, nil]),
        (.retryScheduled(at: 1, reason: "r"), [nil, .queued, .queued, .queued, nil, nil, nil, nil]),
        (.upstreamFinished, [nil, nil, .fetching, nil, nil, nil, nil, nil]),
        (.resultsStored(deliveries: [webhook]), [nil, nil, nil, .delivering, nil, nil, nil, nil]),
        (.resultsStored(deliveries: []), [nil, nil, nil, .succeeded, nil, nil, nil, nil]),
        (.deliveriesSettled, [nil, nil, nil, nil, .succeeded, nil, nil, nil]),
        (.failed(code: .providerError, message: "m", notify: nil), [nil, .failed, .failed, .failed, nil, nil, nil, nil]),
        (.cancelled, [.cancelled, .cancelled, .cancelled, .cancelled, .cancelled, nil, nil, nil]),
    ]

    @Test func everyCellOfTheTable() {
        #expect(TaskState.allCases == [.queued, .dispatching, .running, .fetching, .delivering, .succeeded, .failed, .cancelled])
        for row in Self.table {
            for (state, expected) in zip(TaskState.allCases, row.next) {
                #expect(TaskLifecycle.step(state, row.event)?.next == expected, "\(state) + \(row.event)")
            }
            // The store's WHERE state IN (…) is exactly the table's non-empty cells.
            let predecessors = zip(TaskState.allCases, row.next).filter { $0.1 != nil }.map(\.0)
            #expect(TaskLifecycle.predecessors(of: row.event) == predecessors, "\(row.event)")
        }
    }

    @Test func theHappyPathIsAWalkThroughTheTable() {
        var state = TaskState.queued
        let events: [TaskEvent] = [.claimed, .submitted(provider: "p", upstream: UpstreamJob(ids: ["u"]), deadline: 1), .upstreamFinished,
                                   .resultsStored(deliveries: [Self.webhook]), .deliveriesSettled]
        for event in events { state = TaskLifecycle.step(state, event)!.next }
        #expect(state == .succeeded)
    }

    @Test func finalStatesTakeNoEvent() {
        for state in TaskState.allCases where state.isTerminal {
            for row in Self.table { #expect(TaskLifecycle.step(state, row.event) == nil) }
        }
    }

    @Test func actionsSayWhatTheWorkerDoesNext() {
        #expect(TaskLifecycle.step(.queued, .claimed)?.actions == [.submitUpstream])
        #expect(TaskLifecycle.step(.running, .upstreamFinished)?.actions == [.releaseJobSlot, .fetchResults])
        #expect(TaskLifecycle.step(.running, .cancelled)?.actions == [.cancelUpstream, .releaseJobSlot])
        #expect(TaskLifecycle.step(.fetching, .resultsStored(deliveries: [Self.webhook]))?.actions == [.deliverResults])
        // A capacity wait is routine: no log line. A fallback is logged with what caused it.
        #expect(TaskLifecycle.step(.dispatching, .waitingForCapacity(provider: "p", retryAt: 1))?.detail == nil)
        #expect(TaskLifecycle.step(.dispatching, .fellBack(from: "gemini", to: "fal", failure: "gemini: HTTP 503"))?.detail
            == "fell back from gemini to fal after: gemini: HTTP 503")
    }
}

@Suite("TimeOrderedUUID")
struct TimeOrderedUUIDTests {
    @Test func isAVersion7UUIDInTimeOrder() {
        var random = SystemRandomNumberGenerator()
        let first = TimeOrderedUUID.make(milliseconds: 0x0190_1234_5678, using: &random)
        #expect(first.count == 36 && first.hasPrefix("01901234-5678-7"))
        #expect(["8", "9", "a", "b"].contains(first[first.index(first.startIndex, offsetBy: 19)]))
        var previous = first
        for ms in stride(from: UInt64(0x0190_1234_5679), to: 0x0190_1234_5779, by: 1) {
            let next = TimeOrderedUUID.make(milliseconds: ms, using: &random)
            #expect(next > previous)
            previous = next
        }
        // Unguessable within one millisecond: the random part differs.
        #expect(TimeOrderedUUID.make(milliseconds: 5, using: &random) != TimeOrderedUUID.make(milliseconds: 5, using: &random))
    }

    @Test func bytesAreWrittenAsADashedLowercaseUUID() {
        let bytes: [UInt8] = [0x00, 0x01, 0x0f, 0x10, 0xab, 0xcd, 0x7e, 0xf0, 0x80, 0x09, 0xff, 0xee, 0x12, 0x34, 0x56, 0x78]
        #expect(UUIDText.dashed(bytes: bytes) == "00010f10-abcd-7ef0-8009-ffee12345678")
        #expect(UUIDText.dashed(bytes: bytes) == UUIDText.dashed(bytes.map { String(format: "%02x", $0) }.joined()))
    }
}

@Suite("model identifiers (AIR)")
struct AIRTests {
    @Test func providerModelAndVersionAreEachNonEmptyAndPlain() {
        for good in ["google:gemini@omni-flash", "reelgate:simulator@1", "a:b@c", "fal-ai:veo_3.1@v2", "A:B@9",
                     String(repeating: "a", count: 252) + ":b@c"] {
            #expect(VideoInferenceValidator.isAIR(good), "\(good)")
        }
        for bad in ["", "a:b", "a@b", "@a:b", ":b@c", "a:@c", "a:b@", "a b:c@d", "a:b@c d", "é:b@c", "a:b\u{301}@c", "a@b:c",
                    "a:b@c@d", "x:y:z@1", String(repeating: "a", count: 253) + ":b@c"] {
            #expect(!VideoInferenceValidator.isAIR(bad), "\(bad)")
        }
    }
}
