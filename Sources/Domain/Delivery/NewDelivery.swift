/// What a delivery is: the video to the caller's presigned URL, or the webhook that tells.
public enum DeliveryKind: String, Sendable, Codable {
    case upload, webhook
}

/// A delivery to create when a task's results are stored (or it fails): one upload or webhook
/// for one result, or the `errors` webhook of a failed task (no result).
public struct NewDelivery: Sendable, Equatable {
    public var videoUUID: String?
    public var kind: DeliveryKind
    public var url: String
    /// Stable across attempts and redeliveries: the `webhook-id` receivers dedupe on.
    public var messageID: String

    public init(videoUUID: String?, kind: DeliveryKind, url: String, messageID: String) {
        self.videoUUID = videoUUID
        self.kind = kind
        self.url = url
        self.messageID = messageID
    }
}
