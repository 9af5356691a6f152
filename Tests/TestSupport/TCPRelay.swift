import Foundation
import Glibc
import Synchronization

/// A TCP relay for tests that must cut a link (a database that becomes unreachable): it listens on
/// a free loopback port and relays each connection to `host:port`, until ``cut()`` closes every
/// relayed connection and refuses new ones; ``restore()`` relays again.
public final class TCPRelay: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let target: (host: String, port: UInt16)
    private let state = Mutex<(cut: Bool, sockets: Set<Int32>, stopped: Bool)>((false, [], false))

    public init(to host: String, port targetPort: Int) throws {
        target = (host, UInt16(targetPort))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw RawClientError("relay: bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// Closes every relayed connection and refuses new ones until ``restore()``.
    public func cut() {
        // Under the lock: a socket still in the set is still open (its pair removes it first).
        state.withLock { s in
            s.cut = true
            for fd in s.sockets { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    public func restore() { state.withLock { $0.cut = false } }

    public func stop() {
        cut()
        state.withLock { $0.stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let (cut, stopped) = state.withLock { ($0.cut, $0.stopped) }
            if stopped { close(client); return }
            if cut { close(client); continue }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = target.port.bigEndian
            inet_pton(AF_INET, target.host, &addr.sin_addr)
            let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { close(client); close(upstream); continue }
            // Checked again with the sockets entered, under one lock: a cut that came while this
            // one was connecting must not leave it relaying (CI once saw a submit succeed after
            // the cut, through a connection accepted just before it).
            let admitted = state.withLock { s -> Bool in
                guard !s.cut, !s.stopped else { return false }
                s.sockets.formUnion([client, upstream])
                return true
            }
            guard admitted else { close(client); close(upstream); continue }
            let pair = Pair()
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread { [self] in pump(from, to, pair) }.start()
            }
        }
    }

    /// The two directions of one relayed connection: the second to finish closes both sockets
    /// (never earlier, so no number is closed while the other direction may still use it).
    private final class Pair: Sendable {
        let running = Atomic<Int>(2)
    }

    /// Copies bytes one way until either side ends, then ends both.
    private func pump(_ from: Int32, _ to: Int32, _ pair: Pair) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        copying: while true {
            let n = recv(from, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                guard m > 0 else { break copying }
                sent += m
            }
        }
        shutdown(from, Int32(SHUT_RDWR))
        shutdown(to, Int32(SHUT_RDWR))
        guard pair.running.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        state.withLock { s in
            s.sockets.remove(from)
            s.sockets.remove(to)
            close(from)
            close(to)
        }
    }
}
