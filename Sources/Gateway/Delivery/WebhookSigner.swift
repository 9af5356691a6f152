import Crypto
import Domain
import Store
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
        let mac = start(id: id, timestamp: timestamp)
        mac.update(body)
        return Self.header(mac.finalize())
    }

    /// A signature over a body fed piece by piece (one streamed from disk): feed the body,
    /// then pass the MAC to ``header(_:)``.
    public func start(id: String, timestamp: Int64) -> IncrementalHMAC {
        let mac = IncrementalHMAC(key: key)
        mac.update(Array("\(id).\(timestamp).".utf8))
        return mac
    }

    public static func header(_ mac: [UInt8]) -> String { "v1," + Data(mac).base64EncodedString() }

    /// The three headers of a signed delivery.
    public func headers(id: String, timestamp: Int64, body: [UInt8]) -> [(name: String, value: String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature(id: id, timestamp: timestamp, body: body))]
    }
}
