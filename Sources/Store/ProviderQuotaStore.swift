/// A provider's limits kept in a store several instances share (SPEC §16): the upstream quota
/// belongs to the API key, not to a process, so `maxConcurrent` and `requestsPerMinute` must hold
/// across every gateway. One instance alone keeps them in memory instead (exact there, and free).
///
/// Job slots are rows keyed by task: a crashed instance's slots stay taken while its tasks still
/// run upstream (another instance resumes them and finds the slot already theirs), and a slot
/// whose task is no longer dispatching or running is stale and reclaimed when the provider looks
/// full, so a lost release never shrinks the cap for good.
public protocol ProviderQuotaStore: Sendable {
    /// Takes a job slot of `provider` for `task` if fewer than `limit` are taken (or the task
    /// already holds one); `force` takes it regardless (the job already runs upstream).
    func takeProviderSlot(provider: String, task: String, limit: Int, force: Bool) async throws -> Bool
    func releaseProviderSlot(provider: String, task: String) async throws
    /// Reserves `cost` seconds of the provider's request schedule (one request costs 60/RPM s)
    /// and returns how long the caller waits before sending: a generic cell rate algorithm whose
    /// schedule lives in the database, with `tolerance` seconds of burst.
    func reserveProviderRequests(provider: String, cost: Double, tolerance: Double) async throws -> Double
}
