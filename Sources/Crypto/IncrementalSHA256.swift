import CCrypto

/// SHA-256 fed piece by piece: the digest of a part of a file read in pieces, never whole.
///
/// One owner at a time, like ``IncrementalHMAC``.
public final class IncrementalSHA256: @unchecked Sendable {
    private let context: OpaquePointer
    private var finished = false

    public init() {
        guard let context = ccrypto_sha256_ctx_new() else { fatalError("libcrypto has no SHA-256") }
        self.context = context
    }

    deinit { ccrypto_digest_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        _ = ccrypto_digest_update(context, bytes.baseAddress, bytes.count)
    }

    /// The digest of everything fed so far; the object cannot be fed afterwards.
    public func finalize() -> [UInt8] {
        precondition(!finished, "finalize twice")
        finished = true
        var out = [UInt8](repeating: 0, count: 32)
        _ = ccrypto_digest_final(context, &out)
        return out
    }
}
