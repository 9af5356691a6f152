import Foundation
import CThreads

/// Runs blocking or CPU-heavy test work (a subprocess, a synchronous database call, parsing
/// megabytes in a debug build) on a thread of its own
/// and awaits it. The whole suite shares one cooperative pool of a thread per core: two tests
/// blocking in it at once stall every other test (``PoolWatchdog`` reports it).
public enum OffPool {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            start { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts `body` on a thread of its own and does not wait (clean-up in a synchronous `defer`).
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        start(body)
    }

    /// Named, so a profile tells this work from the pool's (a new thread otherwise takes the
    /// name of the pool thread that made it).
    private static func start(_ body: @escaping @Sendable () -> Void) {
        Thread {
            cthreads_prepare_current("test.off-pool")  // Foundation's name stays its own
            body()
        }.start()
    }
}
