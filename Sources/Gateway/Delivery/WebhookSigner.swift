import Crypto
import Foundation

/// Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
///
/// The secret is the usual `whsec_<base64>` form; a secret without the prefix is base64-decoded
/// when it can be, else used as raw bytes, so any configured string signs consistently.
public struct WebhookSigner: Sendable {
    private let key: [UInt8]

    public init(secret: String) {
        let text = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        if let decoded = Data(base64Encoded: text), !decoded.isEmpty {
            key = [UInt8](decoded)
        } else {
            key = Array(secret.utf8)
        }
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
