import Synchronization

/// Request body bytes held in memory across every connection, with a ceiling: a thousand slow
/// uploads cannot together take the process's memory, whatever each one's own limit.
///
/// A connection reserves body bytes as they arrive (a head that only promises a large body
/// holds nothing) and gives them back when its response has been sent or it closes.
final class BufferBudget: Sendable {
    let capacity: Int
    private let used = Atomic<Int>(0)

    init(capacity: Int) { self.capacity = capacity }

    var inUse: Int { used.load(ordering: .relaxed) }

    /// Takes `bytes` if they fit.
    func reserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        var current = used.load(ordering: .relaxed)
        while true {
            guard current <= capacity - bytes else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.subtract(bytes, ordering: .relaxed)
    }
}
