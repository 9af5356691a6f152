/// A dictionary held to a byte budget that its caller counts: past the budget, arbitrary entries
/// make room (what is kept is a cache of what can be read again, so which one goes matters
/// little, and no recency list is kept for it). A value, not a lock: callers keep it in a `Mutex`.
public struct ByteBudgetMap<Value> {
    private var entries: [String: (value: Value, size: Int)] = [:]
    public private(set) var bytes = 0
    public let budgetBytes: Int

    public init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    public subscript(key: String) -> Value? { entries[key]?.value }

    /// Keeps `value` under `key` as `size` bytes, in place of what the key held.
    public mutating func insert(_ value: Value, size: Int, for key: String) {
        remove(key)
        while bytes + size > budgetBytes, let victim = entries.first {
            entries.removeValue(forKey: victim.key)
            bytes -= victim.value.size
        }
        entries[key] = (value, size)
        bytes += size
    }

    public mutating func remove(_ key: String) {
        if let old = entries.removeValue(forKey: key) { bytes -= old.size }
    }
}

extension ByteBudgetMap: Sendable where Value: Sendable {}
