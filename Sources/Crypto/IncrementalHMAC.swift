import CCrypto

/// HMAC-SHA256 fed piece by piece, for a signature over a body that is streamed from disk (a
/// webhook carrying a base64 video) rather than held in memory.
///
/// One owner at a time: it may move between threads (hence `@unchecked Sendable`), but is never
/// fed from two at once.
public final class IncrementalHMAC: @unchecked Sendable {
    private let context: OpaquePointer
    private var finished = false

    public init(key: [UInt8]) {
        guard let context = key.withUnsafeBytes({ ccrypto_hmac_sha256_new($0.baseAddress, $0.count) }) else {
            fatalError("libcrypto has no HMAC-SHA256")
        }
        self.context = context
    }

    deinit { ccrypto_hmac_free(context) }

    public func update(_ bytes: [UInt8]) {
        precondition(!finished, "update after finalize")
        bytes.withUnsafeBytes { _ = ccrypto_hmac_update(context, $0.baseAddress, $0.count) }
    }

    /// The MAC of everything fed so far; the object cannot be fed afterwards.
    public func finalize() -> [UInt8] {
        precondition(!finished, "finalize twice")
        finished = true
        var out = [UInt8](repeating: 0, count: 32)
        _ = ccrypto_hmac_final(context, &out)
        return out
    }
}
