import Domain
import Testing

@Suite("task statistics")
struct TaskStatisticsTests {
    @Test func ratesPercentilesAndSuccessAreOverWhatEnded() {
        var timings = (1...20).map { TaskTiming(state: .succeeded, createdAt: Double($0), updatedAt: Double($0) + Double($0)) }  // latencies 1…20 s
        timings += [TaskTiming(state: .failed, createdAt: 30, updatedAt: 31), TaskTiming(state: .cancelled, createdAt: 31, updatedAt: 32),
                    TaskTiming(state: .running, createdAt: 33, updatedAt: 33)]
        let stats = TaskStatistics(timings: timings, windowSeconds: 600, sampled: false)
        #expect(stats.submitted == 23)
        #expect(stats.tasksPerMinute == 23.0 / 10)
        // Cancelled tasks are neither successes nor failures; running ones have not ended.
        #expect(stats.successRate == 20.0 / 21)
        #expect(stats.latencyP50 == 10 && stats.latencyP95 == 19)
        #expect(stats.byState[.running] == 1 && stats.byState[.queued] == nil)
    }

    @Test func nothingEndedMeansNoRateAndNoLatency() {
        let stats = TaskStatistics(timings: [TaskTiming(state: .queued, createdAt: 1, updatedAt: 1)], windowSeconds: 60, sampled: false)
        #expect(stats.successRate == nil && stats.latencyP50 == nil && stats.latencyP95 == nil)
        #expect(TaskStatistics(timings: [], windowSeconds: 60, sampled: false).tasksPerMinute == 0)
    }

    @Test func aSampleCutShortIsRatedOverTheSpanItCovers() {
        // 100 tasks in the newest 10 s of an hour's window: 600 a minute, not 100/60.
        let timings = (0..<100).map { TaskTiming(state: .queued, createdAt: 1000 + Double($0) / 10, updatedAt: 0) }
        let stats = TaskStatistics(timings: timings, windowSeconds: 3600, sampled: true)
        #expect(abs(stats.tasksPerMinute - 100 / 9.9 * 60) < 0.001)
    }

    @Test func percentileIsNearestRank() {
        #expect(TaskStatistics.percentile([], 0.5) == nil)
        #expect(TaskStatistics.percentile([7], 0.95) == 7)
        #expect(TaskStatistics.percentile([1, 2, 3, 4], 0.5) == 2)
        #expect(TaskStatistics.percentile([1, 2, 3, 4], 0.95) == 4)
    }
}
