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

    /// Wakes one waiting worker if there is one; banks nothing (a timer's tick is not work).
    func signalIfWaiting() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            guard let (id, waiter) = s.waiters.first else { return nil }
            s.waiters[id] = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when signalled, after `timeout` seconds (nil: no timeout), or when the task is
    /// cancelled (shutdown must not wait for a signal that will not come).
    func wait(timeout: Double?) async {
        let id = Mutex<UInt64?>(nil)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered: UInt64? = state.withLock { s in
                    if s.pending > 0 {
                        s.pending -= 1
                        return nil
                    }
                    let next = s.nextID
                    s.nextID += 1
                    s.waiters[next] = continuation
                    return next
                }
                guard let registered else {
                    continuation.resume()
                    return
                }
                id.withLock { $0 = registered }
                if Task.isCancelled { return wakeWaiter(registered) }
                if let timeout {
                    DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in wakeWaiter(registered) }
                }
            }
        } onCancel: {
            if let registered = id.withLock({ $0 }) { wakeWaiter(registered) }
        }
    }

    private func wakeWaiter(_ id: UInt64) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume()
    }
}
