import Domain
import Store
@testable import SQLiteStore
import Testing

@Suite("Finished-task cache")
struct FinishedTaskCacheTests {
    func task(_ uuid: String, _ state: TaskState = .succeeded, request: String = "{}") -> TaskRecord {
        TaskRecord(uuid: uuid, apiKeyName: "k", model: "m", requestJSON: request, state: state, createdAt: 1, updatedAt: 2)
    }

    @Test func keepsOnlyFinishedSmallTasks() {
        let cache = FinishedTaskCache()
        for state in TaskState.allCases { cache.insert(task(state.rawValue, state), readAt: cache.generation) }
        #expect(TaskState.allCases.filter { cache.get($0.rawValue) != nil } == [.succeeded, .failed, .cancelled])
        let overhead = FinishedTaskCache.size(of: task("edge", request: ""))
        let fits = String(repeating: "x", count: FinishedTaskCache.largestTaskBytes - overhead)
        cache.insert(task("edge", request: fits), readAt: cache.generation)
        #expect(cache.get("edge") != nil)
        cache.insert(task("big", request: fits + "x"), readAt: cache.generation)
        #expect(cache.get("big") == nil, "a request over the limit is not kept")
        // Every text counts: a long upstream error on the task and on each of its results.
        var failed = task("long-error", .failed)
        failed.errorMessage = String(repeating: "e", count: 6000)
        failed.results = (0..<2).map { i in
            var result = ResultRecord(videoUUID: "v\(i)", index: i, seed: 1, state: .failed, format: "MP4")
            result.errorMessage = failed.errorMessage
            return result
        }
        #expect(FinishedTaskCache.size(of: failed) > 18_000)
        cache.insert(failed, readAt: cache.generation)
        #expect(cache.get("long-error") == nil)
    }

    /// A reader that loaded the row before a change committed must not put its copy back after the
    /// change evicted the entry.
    @Test func aReadFromBeforeAnEvictionIsNotKept() {
        let cache = FinishedTaskCache()
        let before = cache.generation
        cache.evict("t")  // a committed change, while the reader was loading
        cache.insert(task("t"), readAt: before)
        #expect(cache.get("t") == nil)
        cache.insert(task("t"), readAt: cache.generation)
        #expect(cache.get("t") != nil)
        cache.evict("t")
        #expect(cache.get("t") == nil)
    }

    @Test func staysWithinItsBudget() {
        let cache = FinishedTaskCache(budgetBytes: 10 * 1024)
        for i in 0..<100 { cache.insert(task("t\(i)", request: String(repeating: "y", count: 1000)), readAt: cache.generation) }
        let kept = (0..<100).filter { cache.get("t\($0)") != nil }.count
        let each = FinishedTaskCache.size(of: task("t0", request: String(repeating: "y", count: 1000)))
        #expect(kept == 10 * 1024 / each)
        #expect(cache.get("t99") != nil)  // the newest always fits
    }
}
