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
}
