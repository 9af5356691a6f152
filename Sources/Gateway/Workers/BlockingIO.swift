import Dispatch

/// Runs blocking work (file copies, fsync, whole-file reads) on Dispatch threads and awaits it.
///
/// Swift's cooperative pool has one thread per core (two here): a blocking call on it stalls
/// every other task, timers and request handlers included.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "reelgate.blocking-io", qos: .utility, attributes: .concurrent)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
