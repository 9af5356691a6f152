import Domain

/// How a claim goes through the rows it found, decided once for every backend.
public enum ClaimSelection {
    /// Deliveries, in the order found, as many as `quota` allows. A row the code cannot read is
    /// set aside (`setAside`: given up, with the reason) so it cannot block every claim after it,
    /// and reported only when nothing else was claimed (the next claim reports nothing).
    public static func deliveries<Row>(
        _ rows: [Row], quota: DeliveryQuota, id: (Row) -> Int64, decode: (Row) throws -> DeliveryRecord,
        setAside: (_ id: Int64, _ reason: String) throws -> Void, take: (DeliveryRecord) throws -> Void
    ) throws -> Result<[DeliveryRecord], StoreError> {
        var quota = quota
        var claimed: [DeliveryRecord] = []
        var unreadable: StoreError?
        for row in rows where quota.free > 0 {
            var record: DeliveryRecord
            do {
                record = try decode(row)
            } catch {
                let cause = error as? StoreError ?? .undecodable(table: "deliveries", column: "?", value: "\(error)")
                try setAside(id(row), "the stored delivery could not be read: \(cause)")
                unreadable = .quarantined(table: "deliveries", id: String(id(row)), cause: cause)
                continue
            }
            guard quota.take(key: record.apiKeyName, host: record.targetHost) else { continue }
            try take(record)
            record.state = .sending
            record.attempts += 1
            claimed.append(record)
        }
        if let unreadable, claimed.isEmpty { return .failure(unreadable) }
        return .success(claimed)
    }
}

extension TaskRecord {
    /// The record as a claim leaves it: in `state`, under `owner`'s lease until `until`.
    public mutating func claimed(by owner: String, until: Double, state: TaskState, countsAsAttempt: Bool, at now: Double) {
        self.state = state
        leaseOwner = owner
        leaseExpiresAt = until
        attempts += countsAsAttempt ? 1 : 0
        updatedAt = now
    }
}
