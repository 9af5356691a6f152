import Dispatch
import Glibc
import Synchronization

/// Waits for the first of some signals (SIGTERM, SIGINT) through Dispatch signal sources.
///
/// The default action is set to ignore first, so the signal cannot kill the process between
/// startup and the source being armed; the Dispatch source still sees it. Dispatch registers a
/// source on its own thread after `resume()`, and a signal ignored before that is lost: `init`
/// returns once every source is registered.
final class SignalWaiter: Sendable {
    private let queue = DispatchQueue(label: "reelgate.signals")
    private let state = Mutex<(received: Int32?, waiter: CheckedContinuation<Int32, Never>?)>((nil, nil))
    private let sources: [SourceHolder]

    init(signals: [Int32]) {
        var holders: [SourceHolder] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            holders.append(SourceHolder(source))
        }
        sources = holders
        let registered = DispatchGroup()
        for (holder, number) in zip(holders, signals) {
            registered.enter()
            holder.source.setRegistrationHandler { registered.leave() }
            holder.source.setEventHandler { @Sendable [self] in deliver(number) }
            holder.source.resume()
        }
        _ = registered.wait(timeout: .now() + 5)  // at startup, once: a moment at most
    }

    private func deliver(_ number: Int32) {
        let waiter = state.withLock { s -> CheckedContinuation<Int32, Never>? in
            if s.received == nil { s.received = number }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: number)
    }

    /// Returns the first signal received (at once if one already arrived).
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Int32? in
                if let received = s.received { return received }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

private final class SourceHolder: @unchecked Sendable {
    let source: any DispatchSourceSignal
    init(_ source: any DispatchSourceSignal) { self.source = source }
}
