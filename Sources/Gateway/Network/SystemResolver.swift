import Domain
import Store
import Foundation
import Glibc

/// `getaddrinfo`, run on threads of its own and bounded by a timeout (it has none of its own
/// beyond resolv.conf's, which can add up to tens of seconds, and it cannot be interrupted).
///
/// A lookup past its timeout is answered "timed out" at once, while `getaddrinfo` keeps its thread
/// until it returns; a lookup still queued then is dropped. The threads are only for lookups: a
/// name server that never answers (a webhook host an app chose) can hold them all, and then other
/// lookups time out (or fail at once past 256 waiting), but no file write or fsync waits behind it.
public struct SystemResolver: HostResolver {
    public let timeout: Duration
    private let lookup: @Sendable (String) throws -> [IPAddress]
    private let threads: BlockingThreadPool

    static let sharedThreads = BlockingThreadPool(name: "reelgate.dns", threads: 8)
    /// Lookups that may wait for a thread; past that one fails at once (all threads stuck on a
    /// name server that does not answer, and a flood of names behind them).
    static let maxQueued = 256

    public init(timeout: Duration = .seconds(3)) {
        self.init(timeout: timeout, threads: Self.sharedThreads, lookup: Self.lookup)
    }

    /// With another lookup than `getaddrinfo` and threads of its own: for tests of the timeout.
    init(timeout: Duration, threads: BlockingThreadPool, lookup: @escaping @Sendable (String) throws -> [IPAddress]) {
        self.timeout = timeout
        self.threads = threads
        self.lookup = lookup
    }

    struct Failed: Error { let reason: String }

    public func resolve(_ host: String) async throws -> [IPAddress] {
        do {
            return try await threads.run(within: timeout, maxQueued: Self.maxQueued) { [lookup] in try lookup(host) }
        } catch is BlockingThreadPool.TimedOut {
            throw Failed(reason: "timed out")
        } catch is BlockingThreadPool.Saturated {
            throw Failed(reason: "too many lookups waiting")
        }
    }

    static func lookup(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &result)
        guard rc == 0 else { throw Failed(reason: "getaddrinfo \(rc)") }
        defer { freeaddrinfo(result) }
        var addresses: [IPAddress] = []
        var cursor = result
        while let info = cursor {
            if info.pointee.ai_family == AF_INET {
                let a = info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                addresses.append(.v4(UInt32(bigEndian: a)))
            } else if info.pointee.ai_family == AF_INET6 {
                let bytes = info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
                addresses.append(.v6(bytes))
            }
            cursor = info.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }
}
