/// What an instance keeps about itself: starts, readiness, settings, and leases at start-up.
public protocol InstanceRepository: Sendable {
    /// Records that an instance started (ops see restarts in the database).
    func recordStart(version: String) throws

    /// A write that proves the store takes writes (readiness).
    func checkWritable() async throws

    /// A setting, created with `make()` the first time it is asked for (e.g. the media signing key).
    func setting(_ key: String, orCreate make: @escaping @Sendable () -> String) throws -> String

    /// Makes every lease claimable now, tasks' and deliveries'. Only safe when no other process
    /// can hold one (the data-directory lock); work a killed process held resumes at once.
    @discardableResult
    func releaseAllLeases() throws -> Int
}
