import Foundation
import HTTP1
import HTTPServer
import Synchronization
import TestSupport
import Testing

/// A response body of `length` bytes (the byte at offset i is i % 251), in pieces of at most
/// `piece` bytes; `endEarly` stops that many bytes short, as a source whose file shrank would.
final class PatternSource: ResponseBodySource, @unchecked Sendable {
    private let length: Int
    private let piece: Int
    private let endEarly: Int
    private var produced = 0
    let closed = Atomic<Bool>(false)

    init(length: Int, piece: Int = 10_000, endEarly: Int = 0) {
        self.length = length
        self.piece = piece
        self.endEarly = endEarly
    }

    /// 251 bytes of the pattern twice over, so any piece is one slice of it.
    private static let pattern: [UInt8] = (0..<502).map { UInt8($0 % 251) }

    func next(into buffer: inout [UInt8], maxBytes: Int) throws {
        var n = max(min(maxBytes, piece, length - endEarly - produced), 0)
        while n > 0 {
            let start = produced % 251
            let take = min(n, 251)
            buffer.append(contentsOf: Self.pattern[start..<start + take])
            produced += take
            n -= take
        }
    }

    func close() { closed.store(true, ordering: .relaxed) }
}

/// What a client that does not play fair costs the server (issue 10, points 1, 2, 3).
@Suite("HTTPServer: admission, budgets and per-client limits", .timeLimit(.minutes(1)))
struct ServerAbuseTests {
    static let rejectAll: Router.Admission = { _ in .reject(.text(.unauthorized, "no key")) }

    @Test func aRejectedHeadIsAnsweredBeforeItsBodyIsRead() async throws {
        let server = try makeServer(routes: { router in
            router.add("POST", "/guarded", admission: Self.rejectAll) { _ in .text(.ok, "never") }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        // A 24 MB body is announced, none of it sent: the answer comes from the head alone.
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /guarded HTTP/1.1\r\n\(host)Content-Length: 25000000\r\n\r\n")
        let response = try await client.readResponse()
        #expect(response.status == 401)
        #expect(response.headers["connection"] == "close")
        #expect(server.bufferedBodyBytes == 0)
        // With Expect: 100-continue, the final status comes instead of 100 Continue.
        let polite = try RawHTTPClient(port: server.port)
        try await polite.send("POST /guarded HTTP/1.1\r\n\(host)Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        #expect(try await polite.readResponse().status == 401)
    }

    @Test func anAdmittedHeadGets100ContinueAndItsLimit() async throws {
        let server = try makeServer(routes: { router in
            router.add("POST", "/small", admission: { _ in .limit(10, overLimit: .text(.unauthorized, "key first")) }) { request in
                HTTPResponse(status: .ok, bytes: request.body)
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /small HTTP/1.1\r\n\(host)Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try await client.readResponse().status == 100)
        try await client.send("hello")
        #expect(try await client.readResponse().bodyText == "hello")
        // Over the limit: by Content-Length at once, by chunks as they come.
        let fixed = try RawHTTPClient(port: server.port)
        try await fixed.send("POST /small HTTP/1.1\r\n\(host)Content-Length: 11\r\n\r\n")
        let refused = try await fixed.readResponse()
        #expect(refused.status == 401 && refused.bodyText == "key first")
        let chunked = try RawHTTPClient(port: server.port)
        try await chunked.send("POST /small HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n")
        #expect(try await chunked.readResponse().status == 401)
    }

    /// What an admission learned of the caller reaches that request's handler, and only that
    /// request's: the next request on the connection is admitted afresh.
    @Test func anAdmittedIdentityReachesItsOwnHandlerOnly() async throws {
        let server = try makeServer(routes: { router in
            router.add("GET", "/who", admission: { head in
                var admission = BodyAdmission.limit(0)
                admission.identity = head.headers["x-key"]
                return admission
            }) { request in .text(.ok, (request.admittedIdentity as? String) ?? "nobody") }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /who HTTP/1.1\r\n\(host)X-Key: alice\r\n\r\n")
        #expect(try await client.readResponse().bodyText == "alice")
        try await client.send("GET /who HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().bodyText == "nobody")
    }

    /// Bodies held in memory across connections have a ceiling: bytes count as they arrive (a
    /// head that only announces a large body holds nothing), and a body that no longer fits is
    /// refused with a retryable 503; the room comes back once a request is answered.
    @Test func bufferedBodiesShareOneBudget() async throws {
        let server = try makeServer { $0.maxBufferedBodyBytes = 100_000 }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let promise = try RawHTTPClient(port: server.port)
        try await promise.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 25000000\r\n\r\n")
        let first = try RawHTTPClient(port: server.port)
        try await first.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 90000\r\n\r\n" + String(repeating: "a", count: 80_000))
        for _ in 0..<400 where server.bufferedBodyBytes < 80_000 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(server.bufferedBodyBytes == 80_000)
        let second = try RawHTTPClient(port: server.port)
        try await second.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 40000\r\n\r\n" + String(repeating: "b", count: 40_000))
        let busy = try await second.readResponse()
        #expect(busy.status == 503)
        #expect(busy.headers["retry-after"] == "1")
        try await first.send(String(repeating: "a", count: 10_000))
        #expect(try await first.readResponse().body.count == 90_000)
        for _ in 0..<400 where server.bufferedBodyBytes > 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(server.bufferedBodyBytes == 0)
        let third = try RawHTTPClient(port: server.port)
        try await third.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 40000\r\n\r\n" + String(repeating: "b", count: 40_000))
        #expect(try await third.readResponse().status == 200)
    }

    /// A body trickled a byte at a time never pauses long enough for the body timeout, but the
    /// absolute body deadline ends it.
    @Test func aTrickledBodyMeetsTheAbsoluteDeadline() async throws {
        let server = try makeServer { config in
            config.bodyTimeout = .seconds(30)
            config.bodyDeadline = .milliseconds(800)
        }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 1000\r\n\r\n")
        let started = ContinuousClock.now
        let trickle = Task {
            for _ in 0..<1000 {
                try await client.send("x")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { trickle.cancel() }
        let response = try await client.readResponse()
        #expect(response.status == 408)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func theMinimumRateEndsABodyThatFallsBehind() {
        let timeouts = ConnectionStateMachine.Timeouts(
            head: 100, idle: 1000, body: 50, write: 70, linger: 20, bodyDeadline: 10_000, minimumBodyRate: 1_000_000_000, minimumRateGrace: 30)
        var m = ConnectionStateMachine(timeouts: timeouts, now: 0)
        m.bytesReceived(now: 1, inBody: false)
        m.headReceived(now: 10)
        #expect(m.deadline == 40)  // the grace (30) before any byte: 10 + 30
        m.bodyReceived(count: 5, now: 20)  // 5 bytes at 1 byte/ns earn 5 ns
        #expect(m.deadline == 45)
        m.bodyReceived(count: 1, now: 44)
        #expect(m.deadline == 46)
        #expect(m.timeoutAction(now: 46) == .requestTimeout)
        // A body that keeps up is bounded by the pause and the whole-body deadline only.
        var fast = ConnectionStateMachine(timeouts: timeouts, now: 0)
        fast.headReceived(now: 0)
        fast.bodyReceived(count: 1_000_000, now: 10)
        #expect(fast.deadline == 60)  // last byte + the 50 pause
    }

    @Test func aSlowReaderFallsBehindTheMinimumRateToo() {
        let timeouts = ConnectionStateMachine.Timeouts(
            head: 100, idle: 1000, body: 50, write: 70, linger: 20, bodyDeadline: 10_000, minimumBodyRate: 1_000_000_000, minimumRateGrace: 30)
        var m = ConnectionStateMachine(timeouts: timeouts, now: 0)
        m.bytesReceived(now: 1, inBody: false)
        m.requestDispatched()
        m.writeProgress(now: 10)
        #expect(m.deadline == 40)
        m.writeProgress(now: 20, bytes: 5)
        #expect(m.deadline == 45)  // a byte a ns, after the 30 ns grace
        #expect(m.timeoutAction(now: 45) == .close)
    }

    /// One address cannot take every connection: its own cap refuses it while others are served.
    @Test func oneClientAddressCannotHoldEveryConnection() async throws {
        let server = try makeServer { config in
            config.maxConnections = 10
            config.maxConnectionsPerClient = 3
        }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        var held: [RawHTTPClient] = []
        for _ in 0..<3 {
            let client = try RawHTTPClient(port: server.port, sourceAddress: "127.0.0.2")
            try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 10\r\n\r\nab")  // a body that stalls
            held.append(client)
        }
        for _ in 0..<200 where server.connectionCount < 3 { try await Task.sleep(for: .milliseconds(5)) }
        let fourth = try RawHTTPClient(port: server.port, sourceAddress: "127.0.0.2")
        try await fourth.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        let refused = try await fourth.readResponse()
        #expect(refused.status == 503)
        #expect(refused.bodyText.contains("from this address"))
        let other = try RawHTTPClient(port: server.port, sourceAddress: "127.0.0.3")
        try await other.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await other.readResponse().bodyText == "hello")
        // The address gets its slots back as its connections close.
        held[0].close()
        var served = false
        for _ in 0..<200 where !served {
            let again = try RawHTTPClient(port: server.port, sourceAddress: "127.0.0.2")
            try await again.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
            served = try await again.readResponse().status == 200
        }
        #expect(served)
    }

    @Test func streamedBodiesArriveWholeAndInOrder() async throws {
        let sources = Mutex<[PatternSource]>([])
        let server = try makeServer(routes: { router in
            router.get("/stream") { request in
                let short = request.queryParameters["short"] != nil
                let source = PatternSource(length: 3_000_000, piece: 70_001, endEarly: short ? 100 : 0)
                sources.withLock { $0.append(source) }
                return HTTPResponse(status: .ok, body: .stream(length: 3_000_000, source: source))
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /stream HTTP/1.1\r\n\(host)\r\n")
        let response = try await client.readResponse()
        #expect(response.body.count == 3_000_000)
        #expect(response.body == TestBytes.repeating((0..<251).map { UInt8($0) }, count: 3_000_000))
        // HEAD: the length, no body, and the source is closed unread.
        try await client.send("HEAD /stream HTTP/1.1\r\n\(host)\r\n")
        let head = try await client.readResponse(headRequest: true)
        #expect(head.headers["content-length"] == "3000000")
        try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().bodyText == "hello")
        // A source that ends early breaks the framing: the connection closes, never pads.
        let broken = try RawHTTPClient(port: server.port)
        try await broken.send("GET /stream?short=1 HTTP/1.1\r\n\(host)\r\n")
        let bytes = try await broken.readToEOF()
        #expect(bytes.count < 3_000_000)
        #expect(sources.withLock { $0 }.allSatisfy { $0.closed.load(ordering: .relaxed) })
    }
}
