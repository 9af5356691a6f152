/// Bookkeeping of stored result videos: which file is whose, and when it expires.
public protocol MediaRepository: Sendable {
    /// The result with this videoUUID and its task's uuid.
    func findResult(_ videoUUID: String) async throws -> (ResultRecord, taskUUID: String)?

    /// Stored videos whose URL expired before `now`, oldest expiry first.
    /// `skipping` passes over that many (ones a sweep could not delete), so they never hold up
    /// the rest.
    func expiredMedia(before now: Double, limit: Int, skipping: Int) async throws -> [StoredFile]

    /// The file of a result was deleted: forget its path. False if it was forgotten already (a
    /// sweep and a delete raced): the caller then does not count its bytes free a second time.
    @discardableResult
    func mediaRemoved(_ videoUUID: String) async throws -> Bool

    /// Bytes of stored media: results and uploaded images.
    func mediaBytesInUse() throws -> Int64
}

/// A stored file and what it weighs: what the sweeper deletes.
public struct StoredFile: Sendable, Equatable {
    /// The videoUUID of a result, or the uuid of an uploaded image.
    public var id: String
    public var path: String
    public var bytes: Int64

    public init(id: String, path: String, bytes: Int64) {
        self.id = id
        self.path = path
        self.bytes = bytes
    }
}
