/// Work that became claimable, told across instances (a shared database): a task submitted, or
/// deliveries queued, on another gateway.
public enum StoreWork: String, Sendable {
    case tasks, deliveries
}

/// A store several instances share tells each of them when another made work claimable, so an idle
/// instance wakes at once instead of at its next poll. (One instance alone wakes its own workers.)
public protocol WorkNotifying: Sendable {
    /// Calls `handler` for each notification, from a thread of the store's, until the store goes.
    func listenForWork(_ handler: @escaping @Sendable (StoreWork) -> Void)
    /// Stops listening (shutdown): the listener's thread and connection go.
    func stopListening()
}
