import Synchronization

/// A settable clock for tests: the store's leases and the simulator's progress read it.
public final class ClockBox: Sendable {
    private let value: Mutex<Double>
    public init(_ now: Double) { value = Mutex(now) }
    public var now: Double {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
