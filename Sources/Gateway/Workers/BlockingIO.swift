/// Runs blocking work (file copies, fsync, whole-file reads) on threads of its own and awaits it.
///
/// Swift's cooperative pool has one thread per core (two here): a blocking call on it stalls
/// every other task, timers and request handlers included. Dispatch's concurrent queues are no
/// better for this: they too run about one thread per core, so two slow fsyncs there held up
/// every other file write of the process. Name lookups have a pool of their own
/// (``SystemResolver``): a name server that never answers must not hold these threads.
public enum BlockingIO {
    /// Enough for the fsyncs of a burst of finished videos to overlap (the disk merges them),
    /// few enough that a flood of work queues here rather than in the kernel's scheduler.
    static let pool = BlockingThreadPool(name: "reelgate.blocking-io", threads: 16)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(body)
    }
}
