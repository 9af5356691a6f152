import Foundation
@testable import Gateway
import TestSupport
import Testing

/// Files recorded by the database: published under their final name (the rename and the
/// directory's fsync), or written whole.
@Suite("Durable files")
struct DurableFileTests {
    @Test func aPublishedFileHasItsFinalNameOnlyAndAFailedOneLeavesNothing() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let media = try MediaStore(directory: dir.file("media"), publicURL: PublicURL("http://127.0.0.1"), key: Array("k".utf8))
        let temporary = media.temporaryPath(videoUUID: "v1"), final = media.path(videoUUID: "v1", ext: "mp4")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: temporary))
        try await DurableFile.publish(temporary, as: final)
        #expect(FileManager.default.contents(atPath: final) == Data([1, 2, 3]))
        #expect(!FileManager.default.fileExists(atPath: temporary))

        let missing = media.temporaryPath(videoUUID: "v2"), other = media.path(videoUUID: "v2", ext: "mp4")
        await #expect(throws: DurableFile.Failed.self) { try await DurableFile.publish(missing, as: other) }
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    @Test func aWrittenFileIsWholeUnderItsNameAndNothingElseIsLeft() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        try await DurableFile.write(Data([9, 8, 7]), to: dir.file("image"))
        #expect(FileManager.default.contents(atPath: dir.file("image")) == Data([9, 8, 7]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["image"])
        await #expect(throws: DurableFile.Failed.self) { try await DurableFile.write([UInt8(1)], to: dir.file("no-such-dir/image")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["image"])
    }

    /// Callers that arrive while a directory fsync runs share the next one; a caller is only
    /// answered by an fsync that started after it asked; a failed round fails all its callers
    /// and only them.
    @Test func directoryFsyncsAreSharedByTheCallersWaitingForThem() async throws {
        let log = FlushLog()
        let sync = DirectorySync(path: "/dir") { _ in log.flush() }
        let first = Task { try await sync.sync() }
        await log.started.wait()  // round 1 is inside its fsync, blocked
        let later = (0..<5).map { _ in Task { try await sync.sync() } }
        while log.pendingCallers(of: sync) < 5 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(log.count == 1)  // nobody who came during round 1 was answered by it
        log.failNext = true
        log.release()
        try await first.value
        var failures = 0
        for task in later {
            do { try await task.value } catch is DurableFile.Failed { failures += 1 }
        }
        #expect(log.count == 2 && failures == 5)  // one more fsync for all five, its failure theirs
        try await sync.sync()  // and the next round is a new one
        #expect(log.count == 3)
    }
}

/// A directory fsync that holds its first call until released and can fail on demand.
private final class FlushLog: @unchecked Sendable {
    let started = Gate()
    private let lock = NSCondition()
    private var calls = 0, released = false
    var failNext = false

    var count: Int { lock.withLock { calls } }

    func flush() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        calls += 1
        if calls == 1 {
            started.open()
            while !released { lock.wait() }
            return 0
        }
        defer { failNext = false }
        return failNext ? EIO : 0
    }

    func release() {
        lock.withLock { released = true }
        lock.broadcast()
    }

    func pendingCallers(of sync: DirectorySync) -> Int { sync.waitingCount }
}
