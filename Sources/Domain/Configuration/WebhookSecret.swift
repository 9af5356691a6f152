import Foundation

/// How a configured Standard Webhooks secret becomes the HMAC key.
///
/// The usual form is `whsec_<base64>`; a secret without the prefix is base64-decoded when it can
/// be, else used as its UTF-8 bytes, so any configured string signs consistently. A key shorter
/// than ``minimumBytes`` is refused at start: it would be guessable.
public enum WebhookSecret {
    public static let minimumBytes = 16

    /// The key bytes, or nil for a `whsec_` secret whose rest is not base64.
    public static func keyBytes(_ secret: String) -> [UInt8]? {
        if secret.hasPrefix("whsec_") {
            return Data(base64Encoded: String(secret.dropFirst(6))).map { [UInt8]($0) }
        }
        if let decoded = Data(base64Encoded: secret), !decoded.isEmpty { return [UInt8](decoded) }
        return Array(secret.utf8)
    }
}
