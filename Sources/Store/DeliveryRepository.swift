import Domain

/// Uploads and webhooks of finished tasks, each claimed under a lease like a task.
public protocol DeliveryRepository: Sendable {
    /// Claims due deliveries, as many as `quota` has room for, in due order, skipping those whose
    /// key or target host is at its limit. A webhook is not due while its result's upload is
    /// unfinished (SPEC §6: the object is there before anyone is told).
    func claimDeliveries(owner: String, leaseSeconds: Double, quota: DeliveryQuota) async throws -> [DeliveryRecord]

    /// Extends the lease of a delivery being attempted; false if it is no longer this claim's
    /// (a claim is told apart from a later one by its attempt number).
    func renewDeliveryLease(_ delivery: DeliveryRecord, owner: String, leaseSeconds: Double) async throws -> Bool

    /// Records an attempt and its outcome if the claim still holds (false otherwise); when the
    /// task's last delivery settles, applies ``TaskEvent/deliveriesSettled`` in the same transaction.
    @discardableResult
    func recordAttempt(_ delivery: DeliveryRecord, owner: String, attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws -> Bool

    /// Runs a task's deliveries again from the start (ops `redeliver`); returns how many.
    func redeliver(_ uuid: String) async throws -> Int
}
