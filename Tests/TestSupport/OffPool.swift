import Foundation

/// Runs blocking test work (a subprocess, a synchronous database call) on a thread of its own
/// and awaits it. The whole suite shares one cooperative pool of a thread per core: two tests
/// blocking in it at once stall every other test (``PoolWatchdog`` reports it).
public enum OffPool {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Starts `body` on a thread of its own and does not wait (clean-up in a synchronous `defer`).
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        Thread { body() }.start()
    }
}
