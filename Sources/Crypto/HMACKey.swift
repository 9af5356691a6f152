import CCrypto
import CCryptoSetup
import Synchronization

/// An HMAC-SHA256 key prepared once, for a key that signs many short messages (reelgate's media
/// links: two or four on every poll of a finished task).
///
/// Keying a context is most of the cost of MACing a short message, so keyed contexts are kept in a
/// small free list and restarted for each message: one per thread that signs at the same time,
/// each used by one caller at a time, never shared while in use.
public final class HMACKey: Sendable {
    private let template: UnsafeSendableContext
    private let idle = Mutex<[UnsafeSendableContext]>([])
    private static let keptContexts = 8

    public init(_ key: [UInt8]) {
        // Done before `main` by its constructor, so nothing here; the call keeps that object linked
        // into whatever links this module, should it ever come from an archive.
        ccrypto_setup()
        guard let context = key.withUnsafeBytes({ ccrypto_hmac_sha256_new($0.baseAddress, $0.count) }) else {
            fatalError("libcrypto has no HMAC-SHA256")
        }
        template = UnsafeSendableContext(context)
    }

    deinit {
        ccrypto_hmac_free(template.pointer)
        for context in idle.withLock({ $0 }) { ccrypto_hmac_free(context.pointer) }
    }

    /// HMAC-SHA256 of `message` under this key.
    public func mac(_ message: [UInt8]) -> [UInt8] {
        let context = idle.withLock { $0.popLast() } ?? UnsafeSendableContext(ccrypto_hmac_dup(template.pointer))
        var out = [UInt8](repeating: 0, count: 32)
        message.withUnsafeBytes { _ = ccrypto_hmac_update(context.pointer, $0.baseAddress, $0.count) }
        _ = ccrypto_hmac_final(context.pointer, &out)
        let kept = ccrypto_hmac_restart(context.pointer) == 1 && idle.withLock { idle in
            guard idle.count < Self.keptContexts else { return false }
            idle.append(context)
            return true
        }
        if !kept { ccrypto_hmac_free(context.pointer) }
        return out
    }
}

/// A libcrypto context that moves between threads but is used by one at a time (the free list
/// hands each to a single caller).
private struct UnsafeSendableContext: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer?) {
        guard let pointer else { fatalError("libcrypto could not copy an HMAC context") }
        self.pointer = pointer
    }
}
