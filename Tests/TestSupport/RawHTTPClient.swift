import Dispatch
import Foundation
import Glibc
import HTTP1

/// A response as read off the wire by ``RawHTTPClient``.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

public struct RawClientError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP client that sends exactly the bytes it is given, for requests well-behaved clients refuse
/// to send (smuggling vectors, slowloris). Blocking socket calls run on a Dispatch queue, never on
/// Swift's cooperative pool, and every read has a timeout so a broken server fails a test
/// instead of hanging it.
public final class RawHTTPClient: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// - Parameter sourceAddress: the local address to connect from (another 127.x.y.z is another
    ///   client as far as the server's per-address limits go).
    public init(port: Int, host: String = "127.0.0.1", readTimeout: Double = 10, sourceAddress: String? = nil) throws {
        PoolWatchdog.start()  // nearly every server test makes a client: the suite's pool is watched
        // Stored only once connected: deinit runs even when an initialised class's init throws,
        // and closing here and there would close a number someone else may already reuse.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawClientError("socket failed") }
        if let sourceAddress {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, sourceAddress, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                Glibc.close(fd)
                throw RawClientError("bind to \(sourceAddress) failed")
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw RawClientError("connect failed: errno \(e)")
        }
        self.fd = fd
        var tv = timeval(tv_sec: Int(readTimeout), tv_usec: Int((readTimeout - Double(Int(readTimeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private var isClosed = false

    deinit { close() }

    /// Closes the socket (also done on release).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    // Private serial queues get threads of their own; the global queues run on about one
    // thread per core on Linux, so blocking reads there stall every other test. Sending and
    // receiving have a queue each, so a send never waits behind a blocked read.
    private let sendQueue = DispatchQueue(label: "raw-http-client.send")
    private let receiveQueue = DispatchQueue(label: "raw-http-client.receive")

    private func offPool<T: Sendable>(sending: Bool = false, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            (sending ? sendQueue : receiveQueue).async { continuation.resume(with: Result { try body() }) }
        }
    }

    public func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) async throws {
        try await offPool(sending: true) { [self] in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw RawClientError("send failed: errno \(errno)") }
                offset += n
            }
        }
    }

    /// Sends `bytes` whole, waiting at most `timeout` for the peer to make room; false when it
    /// did not (the peer stopped reading and every buffer on the way is full).
    public func send(_ bytes: [UInt8], timeout: Double) async -> Bool {
        (try? await offPool(sending: true) { [self] in
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }) ?? false
    }

    /// Half-closes the sending side.
    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Closes with a reset (SO_LINGER 0), as a client that crashed or gave up does.
    public func reset() {
        guard !isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    /// Whatever bytes arrive next (at least one), for protocols other than HTTP.
    public func readSome() async throws -> [UInt8] {
        try await offPool { [self] in
            if buffer.isEmpty, try !fill() { throw RawClientError("closed") }
            defer { buffer.removeAll() }
            return buffer
        }
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        var n = recv(fd, &chunk, chunk.count, 0)
        while n < 0, errno == EINTR { n = recv(fd, &chunk, chunk.count, 0) }  // a signal, not the peer
        if n > 0 {
            buffer += chunk[0..<n]
            return true
        }
        if n == 0 || errno == ECONNRESET { return false }
        throw RawClientError("recv failed: errno \(errno) (timeout?)")
    }

    /// Reads one response. `headRequest` says the body is absent whatever Content-Length says.
    public func readResponse(headRequest: Bool = false) async throws -> RawResponse {
        try await offPool { [self] in
            while true {
                if let end = findHeadEnd() {
                    let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                    var lines = headText.components(separatedBy: "\r\n")
                    let statusLine = lines.removeFirst()
                    let parts = statusLine.split(separator: " ")
                    guard parts.count >= 2, let status = Int(parts[1]) else { throw RawClientError("bad status line \(statusLine)") }
                    var headers = HTTPHeaders()
                    for line in lines where !line.isEmpty {
                        let pieces = line.split(separator: ":", maxSplits: 1)
                        headers.add(name: String(pieces[0]), value: pieces.count > 1 ? String(pieces[1].trimmingOWS()) : "")
                    }
                    let length = headRequest || status < 200 || status == 204 || status == 304 ? 0 : Int(headers["content-length"] ?? "0") ?? 0
                    while buffer.count < end + 4 + length {
                        guard try fill() else { throw RawClientError("closed mid-body") }
                    }
                    let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                    buffer.removeFirst(end + 4 + length)
                    return RawResponse(status: status, headers: headers, body: body)
                }
                guard try fill() else { throw RawClientError("closed before a response (\(buffer.count) bytes buffered)") }
            }
        }
    }

    /// Waits until the server closes the connection; true if it did (EOF or reset), discarding data.
    public func waitForClose() async throws -> Bool {
        try await offPool { [self] in
            while try fill() { buffer.removeAll() }
            return true
        }
    }

    /// Waits until the server closes the connection, discarding data: true for an orderly close
    /// (FIN), false for a reset, which some clients' systems answer by discarding a response
    /// they have received but not yet read.
    public func closesCleanly() async throws -> Bool {
        try await offPool { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n > 0 || (n < 0 && errno == EINTR) { continue }
                if n == 0 {
                    // A reset that came after the server's FIN is not reported by recv, but it
                    // is left as the socket's pending error (EPIPE).
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    return error == 0
                }
                if errno == ECONNRESET { return false }
                throw RawClientError("recv failed: errno \(errno) (timeout?)")
            }
        }
    }

    /// Waits until something can be read (bytes, the server's close or a reset) without reading
    /// it; false if nothing came within the read timeout.
    public func waitUntilReadable() async throws -> Bool {
        try await offPool { [self] in
            var tv = timeval()
            var length = socklen_t(MemoryLayout<timeval>.size)
            getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &length)
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            var n = poll(&entry, 1, Int32(tv.tv_sec * 1000 + tv.tv_usec / 1000))
            while n < 0, errno == EINTR { n = poll(&entry, 1, Int32(tv.tv_sec * 1000 + tv.tv_usec / 1000)) }
            return n > 0
        }
    }

    /// Everything until the server closes.
    public func readToEOF() async throws -> [UInt8] {
        try await offPool { [self] in
            while try fill() {}
            let all = buffer
            buffer.removeAll()
            return all
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}
