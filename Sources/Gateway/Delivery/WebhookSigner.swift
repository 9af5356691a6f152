import Crypto
import Domain
import Foundation

/// Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
///
/// The key comes from the secret as ``WebhookSecret`` says (configuration refuses weak ones).
public struct WebhookSigner: Sendable {
    private let key: [UInt8]

    public init(secret: String) {
        key = WebhookSecret.keyBytes(secret) ?? Array(secret.utf8)
    }

    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        return "v1," + Data(Crypto.hmacSHA256(key: key, message: signed)).base64EncodedString()
    }

    /// The three headers of a signed delivery.
    public func headers(id: String, timestamp: Int64, body: [UInt8]) -> [(name: String, value: String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature(id: id, timestamp: timestamp, body: body))]
    }
}
