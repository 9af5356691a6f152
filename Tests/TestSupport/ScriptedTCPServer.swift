import Foundation
import Glibc

/// A TCP server whose every connection runs a script on its own thread with the raw socket, for
/// responses no well-behaved server sends: no Content-Length, garbage, hangs, resets.
public final class ScriptedTCPServer: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let script: @Sendable (ScriptedConnection) -> Void
    private let stopped = NSLock()
    private var isStopped = false

    /// Listens on `address` (any loopback address) at `port` (0: a free one).
    public init(address: String = "127.0.0.1", port: Int = 0, script: @escaping @Sendable (ScriptedConnection) -> Void) throws {
        self.script = script
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, address, &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw RawClientError("scripted server bind failed") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listener = listener
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                stopped.lock()
                let done = isStopped
                stopped.unlock()
                if done {
                    // Only this thread closes the listener: closing it while accept() may still be
                    // called would let that call accept on whatever socket reused the number.
                    close(listener)
                    return
                }
                continue
            }
            let connection = ScriptedConnection(fd: fd)
            let script = self.script
            Thread { script(connection); connection.close() }.start()
        }
    }

    /// Idempotent: closing the descriptor twice would close whatever reused its number since.
    public func stop() {
        stopped.lock()
        let wasStopped = isStopped
        isStopped = true
        stopped.unlock()
        guard !wasStopped else { return }
        shutdown(listener, Int32(SHUT_RDWR))  // wakes the accept thread, which closes it
    }

    deinit { stop() }
}

/// The raw socket of one scripted connection.
public final class ScriptedConnection: @unchecked Sendable {
    public let fd: Int32
    private var closed = false
    init(fd: Int32) { self.fd = fd }

    /// Reads until the end of a request head (and a Content-Length body, if any); returns it as text.
    @discardableResult
    public func readRequest() -> String {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let text = String(decoding: data, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                var length = 0
                if let line = head.components(separatedBy: "\r\n").first(where: { $0.hasPrefix("content-length:") }) {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                let headBytes = text[..<end.upperBound].utf8.count
                if data.count >= headBytes + length { return text }
            }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return String(decoding: data, as: UTF8.self) }
            data += chunk[0..<n]
        }
    }

    public func write(_ text: String) { write(Array(text.utf8)) }

    public func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}
