/// How many deliveries may be in flight at once: in all, per API key and per target host
/// (SPEC §12), so one tenant's slow receivers, or one slow host, take at most their share of
/// the delivery slots and never starve everyone else's webhooks.
public struct DeliveryQuota: Sendable, Equatable {
    public let total: Int
    public let perKey: Int
    public let perHost: Int
    public private(set) var inFlight = 0
    private var byKey: [String: Int] = [:]
    private var byHost: [String: Int] = [:]

    public init(total: Int, perKey: Int, perHost: Int) {
        self.total = total
        self.perKey = perKey
        self.perHost = perHost
    }

    /// Slots not taken.
    public var free: Int { max(total - inFlight, 0) }

    /// Keys and hosts at their limit: a claim leaves their deliveries out altogether, so a
    /// backlog of theirs can never fill the window others are chosen from.
    public var saturatedKeys: [String] { byKey.filter { $0.value >= perKey }.map(\.key).sorted() }
    public var saturatedHosts: [String] { byHost.filter { $0.value >= perHost }.map(\.key).sorted() }

    /// Takes a slot for a delivery of `key`'s task to `host`, if every limit allows it.
    public mutating func take(key: String, host: String) -> Bool {
        guard inFlight < total, byKey[key, default: 0] < perKey, byHost[host, default: 0] < perHost else { return false }
        inFlight += 1
        byKey[key, default: 0] += 1
        byHost[host, default: 0] += 1
        return true
    }

    /// Gives back a slot taken with ``take(key:host:)``.
    public mutating func give(key: String, host: String) {
        inFlight = max(inFlight - 1, 0)
        let k = byKey[key, default: 1] - 1
        byKey[key] = k > 0 ? k : nil
        let h = byHost[host, default: 1] - 1
        byHost[host] = h > 0 ? h : nil
    }
}
