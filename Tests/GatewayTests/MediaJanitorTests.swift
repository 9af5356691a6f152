import Domain
import Foundation
@testable import Gateway
import SQLiteStore
import Store
import TestSupport
import Testing

/// The sweeper's life: it stops when cancelled (at shutdown), without one more sweep.
@Suite("Media janitor", .timeLimit(.minutes(1)))
struct MediaJanitorTests {
    @Test func aCancelledSweeperStopsWithoutSweepingAgain() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let store = try SQLiteTaskStore(path: dir.file("t.db"))
        let task = NewTask(uuid: "t1", apiKeyName: "k", model: "m", requestJSON: "{}", requestHash: "h", format: "MP4", seeds: [1],
                           videoUUIDs: ["v1"], parentVideoUUID: nil, maxInFlight: nil)
        _ = try await store.submit([task])
        _ = try #require(try await store.claim(owner: "A", leaseSeconds: 30))
        #expect(try await store.apply(.submitted(provider: "p", upstream: UpstreamJob(ids: ["u"]), deadline: 1e12), to: "t1", owner: "A"))
        #expect(try await store.apply(.upstreamFinished, to: "t1", owner: "A"))
        // Stored, and long expired: the first sweep would remove it.
        let file = dir.file("v1.mp4")
        try Data([1]).write(to: URL(fileURLWithPath: file))
        #expect(try await store.markResultReady("v1", owner: "A", media: StoredVideo(path: file, bytes: 1, expiresAt: 1, cost: 0)))
        let janitor = try MediaJanitor(store: store, maxBytes: 1 << 30, logger: Logger(fd: -1))

        // Shutdown arrives while it waits for the next sweep: the wait ends with the cancellation.
        await Task {
            await janitor.run(interval: 3600, alone: false) { _ in
                withUnsafeCurrentTask { $0?.cancel() }
                throw CancellationError()
            }
        }.value
        #expect(FileManager.default.fileExists(atPath: file))

        #expect(try await janitor.sweep(now: Date().timeIntervalSince1970) == 1)  // what it would have done
        #expect(!FileManager.default.fileExists(atPath: file))
    }
}
