import Domain
@testable import Gateway
import Store
import Testing

/// A kept view is served only for exactly the task and history it was rendered from.
@Suite("Finished task views")
struct FinishedTaskViewsTests {
    private func task(_ uuid: String = "t1", state: TaskState = .succeeded) -> TaskRecord {
        var task = TaskRecord(uuid: uuid, apiKeyName: "k", model: "m", requestJSON: "{}", state: state, createdAt: 1, updatedAt: 2)
        var result = ResultRecord(videoUUID: "v1", index: 0, seed: 7, state: .ready, format: "MP4")
        result.expiresAt = 100
        result.mediaPath = "media/v1.mp4"
        task.results = [result]
        return task
    }

    private func history(attempts: Int = 1) -> TaskHistory {
        let delivery = DeliveryRecord(id: 1, taskUUID: "t1", videoUUID: "v1", kind: .webhook, url: "https://h/x", messageID: "msg_1",
                                      state: .failed, attempts: attempts, nextAttemptAt: 0, lastError: nil, apiKeyName: "k", targetHost: "h:443")
        let tries = (0..<attempts).map { DeliveryAttempt(at: Double($0), targetHost: "h:443", statusCode: 500, latencyMilliseconds: 3, error: nil) }
        return TaskHistory(events: [TaskLogEntry(at: 1, state: .queued, detail: "accepted")], deliveries: [(delivery, tries)])
    }

    @Test func aViewIsServedForTheSameTaskAndHistoryOnly() {
        let views = FinishedTaskViews()
        views.keep([1, 2, 3], of: task(), history: history(), linkBase: "http://a")
        #expect(views.view(of: task(), history: history(), linkBase: "http://a") == [1, 2, 3])
        // A later delivery attempt, or the media expiring, is a different view.
        #expect(views.view(of: task(), history: history(attempts: 2), linkBase: "http://a") == nil)
        // Links under another public URL (set once the listener is bound) are a different view.
        #expect(views.view(of: task(), history: history(), linkBase: "http://b") == nil)
        var expired = task()
        expired.results[0].mediaPath = nil
        #expect(views.view(of: expired, history: history(), linkBase: "http://a") == nil)
        // A newer rendering replaces the old one.
        views.keep([4], of: expired, history: history(), linkBase: "http://a")
        #expect(views.view(of: expired, history: history(), linkBase: "http://a") == [4])
        #expect(views.view(of: task(), history: history(), linkBase: "http://a") == nil)
    }

    @Test func unfinishedAndOversizedViewsAreNotKeptAndTheBudgetHolds() {
        let views = FinishedTaskViews(budgetBytes: 4 * 1024)
        views.keep([1], of: task(state: .running), history: history(), linkBase: "http://a")
        #expect(views.view(of: task(state: .running), history: history(), linkBase: "http://a") == nil)
        let huge = [UInt8](repeating: 0, count: FinishedTaskViews.largestViewBytes + 1)
        views.keep(huge, of: task(), history: history(), linkBase: "http://a")
        #expect(views.view(of: task(), history: history(), linkBase: "http://a") == nil)
        var inlineImages = task()
        inlineImages.requestJSON = String(repeating: "x", count: FinishedTaskViews.largestRequestBytes + 1)
        views.keep([1], of: inlineImages, history: history(), linkBase: "http://a")
        #expect(views.view(of: inlineImages, history: history(), linkBase: "http://a") == nil)
        // Each entry counts about 1 KiB: four tasks do not all fit in 4 KiB.
        for i in 0..<4 { views.keep([UInt8(i)], of: task("t\(i)"), history: history(), linkBase: "http://a") }
        let kept = (0..<4).filter { views.view(of: task("t\($0)"), history: history(), linkBase: "http://a") != nil }
        #expect(kept.count == 3)
    }
}
