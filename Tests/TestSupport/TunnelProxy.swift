import Foundation
import Glibc
import Synchronization

/// An HTTP proxy for tests: records every request line it receives and, for `CONNECT host:port`,
/// connects there and relays bytes both ways (a tunnel, as an egress proxy does for https).
/// Anything else (an absolute-form `GET http://…`) is recorded and answered 502.
public final class TunnelProxy: Sendable {
    private let server: ScriptedTCPServer
    private let lines = Mutex<[String]>([])
    public var port: Int { server.port }
    /// The request lines seen, e.g. `CONNECT 127.0.0.1:8080 HTTP/1.1`.
    public var requestLines: [String] { lines.withLock { $0 } }

    public init() throws {
        let box = Mutex<TunnelProxy?>(nil)
        server = try ScriptedTCPServer { connection in box.withLock { $0 }?.serve(connection) }
        box.withLock { $0 = self }
    }

    public func stop() { server.stop() }

    private func serve(_ client: ScriptedConnection) {
        let head = client.readRequest()
        let line = head.components(separatedBy: "\r\n").first ?? ""
        lines.withLock { $0.append(line) }
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"), let port = UInt16(parts[1][parts[1].index(after: colon)...])
        else {
            client.write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        }
        var host = String(parts[1][..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        let upstream = Self.connect(host: host, port: port)
        guard upstream >= 0 else {
            client.write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        }
        defer { close(upstream) }
        client.write("HTTP/1.1 200 Connection established\r\n\r\n")
        let done = Atomic<Bool>(false)
        let back = Thread {
            Self.relay(from: upstream, to: client.fd)
            done.store(true, ordering: .relaxed)
            shutdown(client.fd, Int32(SHUT_WR))
        }
        back.start()
        Self.relay(from: client.fd, to: upstream)
        shutdown(upstream, Int32(SHUT_WR))
        while !done.load(ordering: .relaxed) { usleep(1000) }
    }

    private static func relay(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = recv(source, &buffer, buffer.count, 0)
            if n <= 0 { return }
            var offset = 0
            while offset < n {
                let sent = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + offset, n - offset, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { return }
                offset += sent
            }
        }
    }

    private static func connect(host: String, port: UInt16) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { return -1 }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            close(fd)
            return -1
        }
        return fd
    }
}
