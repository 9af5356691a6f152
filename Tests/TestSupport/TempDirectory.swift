import Foundation

/// A directory of its own for one test. Tests end with `defer { dir.remove() }`: relying on
/// deinit is unsafe, because Swift may release an object right after its last use, before the
/// end of the scope (and while a transfer into the directory is still running).
public final class TempDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ label: String = "reelgate-test") {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// A one-shot latch a test opens to let a handler it is holding continue; no sleeping involved.
/// A cancelled waiter stops waiting: a test past its time limit is cancelled, and one still
/// waiting for a gate that will never open would otherwise hold up the whole run forever.
public final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var opened = false
    private var nextWaiter = 0
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]

    public init() {}

    public func wait() async {
        let id = lock.withLock {
            defer { nextWaiter += 1 }
            return nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                lock.lock()
                if opened || Task.isCancelled {
                    lock.unlock()
                    continuation.resume()
                } else {
                    waiters[id] = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            lock.lock()
            let waiter = waiters.removeValue(forKey: id)
            lock.unlock()
            waiter?.resume()
        }
    }

    public var isOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return opened
    }

    public func open() {
        lock.lock()
        opened = true
        let all = waiters.values
        waiters = [:]
        lock.unlock()
        for waiter in all { waiter.resume() }
    }
}
