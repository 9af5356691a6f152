/// Images uploaded with `imageUpload`, kept for a while to be used as task inputs.
public protocol ImageRepository: Sendable {
    func storeImage(_ image: UploadedImage) async throws

    /// An uploaded image that has not expired.
    func image(_ uuid: String) async throws -> UploadedImage?

    /// Uploaded images past their lifetime, oldest first.
    func expiredImages(before now: Double, limit: Int, skipping: Int) async throws -> [StoredFile]

    /// An image's file was deleted: forget it. False if it was forgotten already.
    @discardableResult
    func imageRemoved(_ uuid: String) async throws -> Bool
}

/// An uploaded image: whose it is, where its file is, and until when it may be used.
public struct UploadedImage: Sendable, Equatable {
    public var uuid: String
    public var keyName: String
    public var path: String
    public var mime: String
    public var bytes: Int
    public var expiresAt: Double

    public init(uuid: String, keyName: String, path: String, mime: String, bytes: Int, expiresAt: Double) {
        self.uuid = uuid
        self.keyName = keyName
        self.path = path
        self.mime = mime
        self.bytes = bytes
        self.expiresAt = expiresAt
    }
}
