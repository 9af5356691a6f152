import Foundation
@testable import Gateway
import TestSupport
import Testing

/// Publishing a fetched file under its final name (the rename and the directory's fsync).
@Suite("Media store")
struct MediaStoreTests {
    @Test func aPublishedFileHasItsFinalNameOnlyAndAFailedOneLeavesNothing() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let media = try MediaStore(directory: dir.file("media"), publicURL: PublicURL("http://127.0.0.1"), key: Array("k".utf8))
        let temporary = media.temporaryPath(videoUUID: "v1"), final = media.path(videoUUID: "v1", ext: "mp4")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: temporary))
        try media.publish(temporary, as: final)
        #expect(FileManager.default.contents(atPath: final) == Data([1, 2, 3]))
        #expect(!FileManager.default.fileExists(atPath: temporary))

        let missing = media.temporaryPath(videoUUID: "v2"), other = media.path(videoUUID: "v2", ext: "mp4")
        #expect(throws: MediaStore.PublishFailed.self) { try media.publish(missing, as: other) }
        #expect(!FileManager.default.fileExists(atPath: other))
    }
}
