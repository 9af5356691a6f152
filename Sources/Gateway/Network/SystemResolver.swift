import Domain
import Store
import Foundation
import Glibc

/// `getaddrinfo`, run on a blocking-IO thread and bounded by a timeout (it has none of its own
/// beyond resolv.conf's, which can add up to tens of seconds).
public struct SystemResolver: HostResolver {
    public let timeout: Duration

    public init(timeout: Duration = .seconds(3)) { self.timeout = timeout }

    struct Failed: Error { let reason: String }

    public func resolve(_ host: String) async throws -> [IPAddress] {
        try await withThrowingTaskGroup(of: [IPAddress].self) { group in
            group.addTask { try await BlockingIO.run { try Self.lookup(host) } }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failed(reason: "timed out")
            }
            defer { group.cancelAll() }
            return try await group.next() ?? []
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
