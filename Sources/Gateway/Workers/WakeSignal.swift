import Dispatch
import Synchronization

/// Wakes idle workers when work arrives, so a new task is claimed at once rather than at the
/// next poll; the timeout is the fallback that picks up retries that became due.
final class WakeSignal: Sendable {
    private struct State {
        var pending = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Wakes one waiting worker (or the next one to wait).
    func signal(count: Int = 1) {
        let woken: [CheckedContinuation<Void, Never>] = state.withLock { s in
            var woken: [CheckedContinuation<Void, Never>] = []
            for _ in 0..<count {
                if let (id, waiter) = s.waiters.first {
                    s.waiters[id] = nil
                    woken.append(waiter)
                } else {
                    // Banked wake-ups are capped: a burst of submits must not leave thousands of
                    // empty claims for later.
                    s.pending = min(s.pending + 1, 64)
                }
            }
            return woken
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns when signalled or after `timeout` seconds.
    func wait(timeout: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: UInt64? = state.withLock { s in
                if s.pending > 0 {
                    s.pending -= 1
                    return nil
                }
                let id = s.nextID
                s.nextID += 1
                s.waiters[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume()
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume()
            }
        }
    }
}
