import Foundation
import Glibc

/// A stand-in for an fsync that holds its first call until released and fails on demand: shows
/// who waits for a flush under way, and who is answered by which.
public final class HeldFlush: @unchecked Sendable {
    /// Opens when the first flush is under way (and held).
    public let started = Gate()
    private let lock = NSCondition()
    private var calls = 0, released = false
    private var failing = false

    public init() {}

    public var count: Int { lock.withLock { calls } }
    public var isReleased: Bool { lock.withLock { released } }
    /// Whether flushes from now on fail (EIO).
    public func setFailing(_ value: Bool) { lock.withLock { failing = value } }

    public func flush() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        calls += 1
        if calls == 1 {
            started.open()
            while !released { lock.wait() }
        }
        return failing ? EIO : 0
    }

    public func release() {
        lock.withLock { released = true }
        lock.broadcast()
    }
}
