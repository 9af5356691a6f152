import Dispatch
import Glibc
import HTTP1
import Synchronization
import TestSupport
import Testing
@testable import HTTPServer

/// A closed connection never touches its old descriptor number again: once closed, the number
/// can belong to any socket or file the process opens next, and a stale `recv` would steal that
/// one's bytes (and block the loop if it is a blocking socket), a stale `send` would write a
/// response into it.
///
/// Each test closes the server's connection through a seam that puts a socket pair's end at the
/// closed number (atomically, with `dup2`), then checks that nothing read from or wrote to it.
@Suite("HTTPServer: a closed connection's descriptor", .timeLimit(.minutes(1)))
struct DescriptorReuseTests {
    /// What takes the closed connection's number: one end of a socket pair holding bytes that
    /// are not the connection's.
    final class Stand: Sendable {
        let ours: Int32
        let theirs: Int32
        let reused = Mutex<Int32>(-1)
        static let bait: [UInt8] = Array("not yours".utf8)

        init() throws {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw RawClientError("socketpair failed: errno \(errno)")
            }
            (ours, theirs) = (pair[0], pair[1])
            _ = Self.bait.withUnsafeBytes { send(theirs, $0.baseAddress, $0.count, 0) }
        }

        /// The seam: the connection's socket is replaced by our end of the pair.
        func close(_ fd: Int32) {
            _ = dup2(ours, fd)
            reused.withLock { $0 = fd }
        }

        /// The bytes still waiting at the stand-in, and what was written into it.
        func check() -> (unread: Int, written: Int) {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let fd = reused.withLock { $0 }
            let unread = fd < 0 ? -1 : recv(fd, &buffer, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT))
            let written = recv(theirs, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            return (unread, max(written, 0))
        }

        deinit {
            let fd = reused.withLock { $0 }
            if fd >= 0 { Glibc.close(fd) }
            Glibc.close(ours)
            Glibc.close(theirs)
        }
    }

    func makeServer(loops: EventLoopGroup, stand: Stand, routes: (RouterBuilder) -> Void = { _ in }) throws -> HTTPServer {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.render = jsonErrors
        configuration.loops = loops
        let router = RouterBuilder(render: jsonErrors)
        router.get("/hello") { _ in HTTPResponse.text(.ok, "hello") }
        routes(router)
        let server = HTTPServer(configuration: configuration, responder: router.build(), closeDescriptor: stand.close)
        try server.start()
        return server
    }

    /// A request arrives just as shutdown's deadline closes the idle connection: the read's
    /// wake-up is already queued behind the close, and must not read from the number afterwards.
    /// (A drain alone no longer closes it before that read: it answers a request already sent.)
    @Test func aReadWokenAfterTheCloseReadsNothing() async throws {
        let stand = try Stand()
        let loops = EventLoopGroup(count: 1, name: "test.reuse")
        let server = try makeServer(loops: loops, stand: stand)
        defer { Task { await server.shutdown(gracePeriod: .zero) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        _ = try await client.readResponse()  // the connection now waits for its next request

        // Hold the loop while the next request arrives, and close everything from inside it: the
        // close is queued first, the read's wake-up (from the socket event) after it.
        let holding = Gate(), released = Gate(), after = Gate()
        let release = DispatchSemaphore(value: 0)
        let loop = loops.loops[0]
        loop.execute {
            holding.open()
            release.wait()
            server.closeAllConnections()
            // Runs after the close and after the woken read: only then is the outcome known.
            loop.execute { loop.execute { after.open() } }
            released.open()
        }
        await holding.wait()
        try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        release.signal()
        await released.wait()
        await after.wait()

        #expect(stand.reused.withLock { $0 } >= 0, "the connection was closed through the seam")
        let (unread, written) = stand.check()
        #expect(unread == Stand.bait.count, "bytes read from a descriptor the connection no longer owned")
        #expect(written == 0, "bytes written into a descriptor the connection no longer owned")
    }

    /// A streamed body waits for its next piece while shutdown force-closes the connection: when
    /// the piece comes, nothing is sent to the number.
    @Test func aStreamResumedAfterTheCloseWritesNothing() async throws {
        let stand = try Stand()
        let loops = EventLoopGroup(count: 1, name: "test.reuse")
        let piece = Gate(), waiting = Gate()
        let source = GatedSource(gate: piece, waiting: waiting)
        let server = try makeServer(loops: loops, stand: stand) { router in
            router.get("/stream") { _ in HTTPResponse(status: .ok, body: .stream(length: 1000, source: source)) }
        }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /stream HTTP/1.1\r\n\(host)\r\n")
        await waiting.wait()  // the head is out; the server waits for the body's first piece
        await server.shutdown(gracePeriod: .zero)  // force-closes it
        #expect(stand.reused.withLock { $0 } >= 0, "the connection was closed through the seam")
        piece.open()
        await source.closed.wait()
        // The source is closed by the write that resumed; anything it sent has been sent by now.
        let (unread, written) = stand.check()
        #expect(unread == Stand.bait.count)
        #expect(written == 0, "a stream resumed after the close wrote into a descriptor it no longer owned")
    }
}

/// A body whose one piece comes when the test opens `gate`.
final class GatedSource: FilledResponseBodySource {
    let gate: Gate
    let waiting: Gate
    let closed = Gate()
    init(gate: Gate, waiting: Gate) {
        self.gate = gate
        self.waiting = waiting
    }
    func ready() async throws {
        waiting.open()
        await gate.wait()
    }
    func next(into buffer: inout [UInt8], maxBytes: Int) throws {
        buffer.append(contentsOf: [UInt8](repeating: UInt8(ascii: "x"), count: min(maxBytes, 1000)))
    }
    func close() { closed.open() }
}
