import Glibc
import HTTP1
import Synchronization

/// The `Date` header value, formatted at most once per second for the whole server.
final class DateCache: Sendable {
    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    func current() -> String {
        let now = time(nil)
        return cached.withLock { state in
            if state.second != now {
                state = (now, HTTPDate.format(epochSeconds: Int64(now)))
            }
            return state.text
        }
    }
}

/// Monotonic nanoseconds, for deadlines.
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

extension Duration {
    var nanoseconds: UInt64 {
        let (s, atto) = components
        return UInt64(max(s, 0)) * 1_000_000_000 + UInt64(max(atto, 0) / 1_000_000_000)
    }
}
