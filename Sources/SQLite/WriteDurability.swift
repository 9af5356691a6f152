/// How durable a write must be before its caller goes on.
///
/// Every commit survives `kill -9` at once: the WAL is written before the caller is answered,
/// and the kernel keeps what a process wrote. Only a power cut (or a kernel crash) can lose a
/// commit that was not fsynced, and then only one of the last moments: the next synced commit
/// fsyncs the WAL and with it everything before (as does a background checkpoint that finds
/// frames to copy). Commits are visible to other connections before their fsync: what acts on
/// a commit in a way that must not be repeated waits for a synced write of its own first.
public enum WriteDurability: Sendable, Equatable {
    /// Answered after the commit's fsync. For what a client was told (an acknowledged submit, a
    /// cancel) and what must never happen twice (a billed upstream job): the default.
    case synced
    /// Answered after the commit, without waiting for the disk. Only for steps that are redone
    /// safely if a power cut loses them: a lease lapses and is taken again, a stored video is
    /// fetched again, a delivery is at-least-once.
    case deferred
}
