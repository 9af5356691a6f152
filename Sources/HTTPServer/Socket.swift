import Glibc

/// Thin wrappers over the socket calls the server makes.
enum Socket {
    /// The listen queue's length (nginx's default; the kernel caps it at somaxconn).
    static let listenBacklog = 511

    /// Creates a non-blocking listening socket bound to `host:port`.
    ///
    /// - Returns: the descriptor and the bound port (useful when `port` is 0).
    static func makeListener(host: String, port: Int, backlog: Int32 = Int32(listenBacklog)) throws(SystemError) -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST  // never a DNS lookup
        var result: UnsafeMutablePointer<addrinfo>?
        let name = host == "localhost" ? "127.0.0.1" : host
        let rc = getaddrinfo(name, String(port), &hints, &result)
        guard rc == 0, let info = result else { throw SystemError("getaddrinfo(\(host))", errno: EINVAL) }
        defer { freeaddrinfo(result) }

        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var one: Int32 = 1
        // SO_REUSEADDR so a restart is not refused by TIME_WAIT; never SO_REUSEPORT, which would let
        // a second instance share the port silently.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let error = SystemError("bind(\(host):\(port))")
            close(fd)
            throw error
        }
        guard listen(fd, backlog) == 0 else {
            let error = SystemError("listen")
            close(fd)
            throw error
        }
        try setNonBlocking(fd)
        return (fd, try boundPort(fd))
    }

    static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SystemError("fcntl") }
    }

    static func boundPort(_ fd: Int32) throws(SystemError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw SystemError("getsockname") }
        return port(of: storage)
    }

    static func port(of storage: sockaddr_storage) -> Int {
        var storage = storage
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// `ip:port` of an accepted peer.
    static func describe(_ storage: sockaddr_storage) -> String {
        var storage = storage
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let port = port(of: storage)
        let family = storage.ss_family
        func text() -> String { String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                var addr = pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
                return "[\(text())]:\(port)"
            }
            var addr = pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
            return "\(text()):\(port)"
        }
    }

    /// Who a peer is for per-client limits: its IPv4 address (IPv4-mapped IPv6 included), or
    /// the /64 of its IPv6 address, since one host is routinely given a whole /64 and could
    /// otherwise be any number of "clients".
    static func clientKey(_ storage: sockaddr_storage) -> String {
        var storage = storage
        guard storage.ss_family == sa_family_t(AF_INET6) else {
            let described = describe(storage)
            return String(described[..<(described.lastIndex(of: ":") ?? described.endIndex)])
        }
        let bytes: [UInt8] = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) } }
        }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return "\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// Accepts one pending connection, non-blocking and close-on-exec, with TCP_NODELAY.
    enum AcceptResult {
        case accepted(fd: Int32, peer: String, client: String)
        case wouldBlock
        case failed(SystemError)
    }

    static func accept(_ listener: Int32) -> AcceptResult {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
        }
        if fd < 0 {
            let e = errno
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            if e == EINTR || e == ECONNABORTED { return .accept(listener) }
            return .failed(SystemError("accept", errno: e))
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return .accepted(fd: fd, peer: describe(storage), client: clientKey(storage))
    }
}

extension Socket.AcceptResult {
    fileprivate static func accept(_ listener: Int32) -> Socket.AcceptResult { Socket.accept(listener) }
}
