import Dispatch
import Foundation
import HTTP1
@testable import HTTPServer
import TestSupport
import Testing

@Suite("HTTPServer over real sockets", .timeLimit(.minutes(1)))
struct ServerTests {
    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        for _ in 0..<3 {
            try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyText == "hello")
            #expect(response.headers["connection"] == nil)
            #expect(response.headers["date"] != nil)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        // The slow handler for /a answers after /b's would have: order must still hold.
        let gate = Gate()
        let server = try makeServer(routes: { router in
            router.add("GET", "/a") { _ in
                await gate.wait()
                return .text(.ok, "a")
            }
            router.add("GET", "/b") { _ in .text(.ok, "b") }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send(
            "GET /a HTTP/1.1\r\n\(host)\r\nGET /b HTTP/1.1\r\n\(host)\r\nPOST /echo HTTP/1.1\r\n\(host)Content-Length: 1\r\n\r\nc")
        gate.open()
        let bodies = [try await client.readResponse(), try await client.readResponse(), try await client.readResponse()].map(\.bodyText)
        #expect(bodies == ["a", "b", "c"])
    }

    @Test func connectionCloseIsHonoured() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /hello HTTP/1.1\r\n\(host)Connection: close\r\n\r\n")
        let response = try await client.readResponse()
        #expect(response.headers["connection"] == "close")
        #expect(try await client.waitForClose())
    }

    /// A request and the client's FIN arriving together (`printf … | nc -N`, health checkers):
    /// answered, then closed at once, not held until the idle timeout (60 s here). The FIN comes
    /// with the data's readiness event, so skipping the read that would see it loses it.
    @Test func aRequestFollowedAtOnceByTheClientsFINIsAnsweredThenClosed() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        for _ in 0..<3 {
            let client = try RawHTTPClient(port: server.port, readTimeout: 5)
            defer { client.close() }
            try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
            client.shutdownWrite()
            #expect(try await client.readResponse().status == 200)
            #expect(try await client.waitForClose())
        }
    }

    /// A request the client sent before the drain began, which its loop had not read yet (here
    /// the loop is held by another handler), is answered with `Connection: close`, not dropped
    /// with its bytes unread (which resets the connection).
    @Test func aRequestAlreadySentWhenTheDrainBeginsIsAnswered() async throws {
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let server = try makeServer({ $0.loops = EventLoopGroup(count: 1, name: "test.drain") }) { router in
            router.get("/hold") { _ in
                entered.signal()
                release.wait()  // holds the loop's one thread
                return HTTPResponse.text(.ok, "held")
            }
        }
        var released = false
        defer {
            if !released { release.signal() }
            Task { await server.shutdown(gracePeriod: .seconds(1)) }
        }
        let holder = try RawHTTPClient(port: server.port)
        try await holder.send("GET /hold HTTP/1.1\r\n\(host)\r\n")
        try await OffPool.run { entered.wait() }
        let late = try RawHTTPClient(port: server.port)
        try await late.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        while server.connectionCount < 2 { try await Task.sleep(for: .milliseconds(5)) }  // accepted, not yet read
        server.beginDraining()
        release.signal()
        released = true
        #expect(try await holder.readResponse().status == 200)
        let response = try await late.readResponse()
        #expect(response.status == 200 && response.bodyText == "hello")
        #expect(response.headers["connection"] == "close")
        #expect(try await late.waitForClose())
    }

    /// A connection still in the kernel's accept queue when the drain begins (here accepting is
    /// suspended, as when descriptors run out) is accepted by the drain and its request answered
    /// with `Connection: close`: closing the listener with it queued would reset it. The
    /// suspended accept source is still cancelled, closing the listener.
    @Test func aConnectionNotYetAcceptedWhenTheDrainBeginsIsAnswered() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        server.suspendAcceptingUntilDrain()
        let queued = try RawHTTPClient(port: server.port)  // the kernel completes it; nobody accepts
        try await queued.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(server.connectionCount == 0)
        try await OffPool.run { server.beginDraining() }
        #expect(!server.isAccepting)
        let response = try await queued.readResponse()
        #expect(response.status == 200 && response.bodyText == "hello")
        #expect(response.headers["connection"] == "close")
        #expect(try await queued.waitForClose())
        // The listener is closed: a new connection is refused (once the cancel handler has run).
        var refused = false
        for _ in 0..<400 where !refused {
            do {
                let late = try RawHTTPClient(port: server.port)
                try await late.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
                _ = try? await late.readResponse()
                try await Task.sleep(for: .milliseconds(5))
            } catch {
                refused = true
            }
        }
        #expect(refused)
    }

    /// A connection the drain's last round accepts over the connection cap gets its 503, not a
    /// reset: the refusal's unread request is dropped before its socket closes with the drain.
    @Test func aConnectionRefusedInTheDrainsLastRoundGetsItsAnswer() async throws {
        let server = try makeServer({ $0.maxConnections = 1 })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let holder = try RawHTTPClient(port: server.port)
        try await holder.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await holder.readResponse().status == 200)  // accepted: it fills the cap
        server.suspendAcceptingUntilDrain()
        let queued = try RawHTTPClient(port: server.port)
        try await queued.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        try await OffPool.run { server.beginDraining() }
        let response = try await queued.readResponse()
        #expect(response.status == 503)
        #expect(try await queued.waitForClose())
    }

    @Test func http10GetsOneResponseThenClose() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /hello HTTP/1.0\r\n\r\n")
        #expect(try await client.readResponse().status == 200)
        #expect(try await client.waitForClose())
    }

    @Test func headHasLengthButNoBody() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("HEAD /hello HTTP/1.1\r\n\(host)\r\n")
        let head = try await client.readResponse(headRequest: true)
        #expect(head.headers["content-length"] == "5")
        // The next response must start right after the head: any stray body bytes would corrupt it.
        try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().bodyText == "hello")
    }

    @Test func chunkedRequestBodyIsDecoded() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        #expect(try await client.readResponse().bodyText == "abcde")
    }

    @Test func expectContinueGetsInterimResponse() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try await client.readResponse()
        #expect(interim.status == 100)
        try await client.send("body")
        let final = try await client.readResponse()
        #expect(final.status == 200)
        #expect(final.bodyText == "body")
    }

    @Test func unknownExpectationIs417() async throws {
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 4\r\nExpect: magic\r\n\r\n")
        #expect(try await client.readResponse().status == 417)
    }

    @Test func oversizedBodyIs413WithoutReadingIt() async throws {
        let server = try makeServer { $0.limits.maxBodyBytes = 1000 }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 1001\r\nExpect: 100-continue\r\n\r\n")
        let response = try await client.readResponse()
        #expect(response.status == 413)
        #expect(response.headers["connection"] == "close")
        #expect(try await client.waitForClose())
    }

    @Test func routerGives404And405WithAllow() async throws {
        let server = try makeServer(routes: { router in
            router.get("/items/:id") { request in .text(.ok, request.pathParameters["id"] ?? "-") }
            router.get("/items/:id/parts/:part") { request in .text(.ok, "\(request.pathParameters["id"] ?? "-")+\(request.pathParameters["part"] ?? "-")") }
            router.get("/v1/fixed") { _ in .text(.ok, "fixed") }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /items/a%20b HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().bodyText == "a b")
        // Paths match by their non-empty segments, whether a route has parameters or not.
        for path in ["//items/x/", "/items//x", "/items/x//"] {
            try await client.send("GET \(path) HTTP/1.1\r\n\(host)\r\n")
            #expect(try await client.readResponse().bodyText == "x", "\(path)")
        }
        for path in ["/v1/fixed", "//v1//fixed/", "/v1/fixed/"] {
            try await client.send("GET \(path) HTTP/1.1\r\n\(host)\r\n")
            #expect(try await client.readResponse().bodyText == "fixed", "\(path)")
        }
        try await client.send("GET /items/%C3%A9/parts/%2F HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().bodyText == "é+/")
        for path in ["/items", "/items/x/parts", "/items/x/other/y", "/v1", "/v1/fixed/more"] {
            try await client.send("GET \(path) HTTP/1.1\r\n\(host)\r\n")
            #expect(try await client.readResponse().status == 404, "\(path)")
        }
        try await client.send("GET /nope HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().status == 404)
        try await client.send("DELETE /items/1 HTTP/1.1\r\n\(host)\r\n")
        let notAllowed = try await client.readResponse()
        #expect(notAllowed.status == 405)
        #expect(notAllowed.headers["allow"] == "GET, HEAD")
    }

    @Test func fileBodiesAreSentFromDisk() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("clip.bin")
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(content)))
        let server = try makeServer(routes: { router in
            router.get("/file") { _ in HTTPResponse(body: .file(path: path, offset: 1000, length: 200_000)) }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /file HTTP/1.1\r\n\(host)\r\n")
        let response = try await client.readResponse()
        #expect(response.body == Array(content[1000..<201_000]))
    }

    @Test func peerVanishingMidResponseDoesNotKillTheProcess() async throws {
        // A large response to a client that is gone: send() fails with EPIPE, never SIGPIPE.
        let big = [UInt8](repeating: 0x61, count: 8 << 20)
        let server = try makeServer(routes: { router in
            router.get("/big") { _ in HTTPResponse(status: .ok, bytes: big) }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        for _ in 0..<5 {
            let quitter = try RawHTTPClient(port: server.port)
            try await quitter.send("GET /big HTTP/1.1\r\n\(host)\r\n")
            _ = quitter  // released: the socket closes with the response half-sent
        }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().status == 200)
    }
}

@Suite("HTTPServer: framing errors over sockets", .timeLimit(.minutes(1)))
struct ServerFramingTests {
    static let vectors: [(String, Int)] = [
        ("POST /echo HTTP/1.1\r\n\(host)Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\n\(host)Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nxyz\r\n", 400),
        ("GET /hello HTTP/1.1\r\n\(host)X: a\r\n b\r\n\r\n", 400),
        ("GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400),
        ("GET /hello HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", 400),
        ("GET /\(String(repeating: "a", count: 8200)) HTTP/1.1\r\n\(host)\r\n", 414),
        ("GET /hello HTTP/1.1\r\n\(host)X: \(String(repeating: "a", count: 17000))\r\n\r\n", 431),
        ("GET /hello HTTP/1.1\r\n\(host)\((0..<101).map { "X-\($0): v\r\n" }.joined())\r\n", 431),
        ("POST /echo HTTP/1.1\r\n\(host)Content-Length: 26214401\r\n\r\n", 413),
        ("GET /hello HTTP/2.0\r\n\(host)\r\n", 505),
        ("POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ]

    @Test(arguments: 0..<vectors.count)
    func answeredThenClosed(_ index: Int) async throws {
        let (raw, status) = Self.vectors[index]
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send(raw)
        let response = try await client.readResponse()
        #expect(response.status == status)
        #expect(response.headers["connection"] == "close")
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.bodyText.contains("\"errors\""))
        // Nothing after a framing error may be read as a request: the connection ends.
        #expect(try await client.waitForClose())
    }

    @Test func smuggledSecondRequestIsNeverServed() async throws {
        // CL.TE: a front-end honouring Content-Length would forward "GET /hello" as body bytes.
        let server = try makeServer()
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\n\(host)\r\n")
        let all = String(decoding: try await client.readToEOF(), as: UTF8.self)
        #expect(all.hasPrefix("HTTP/1.1 400"))
        #expect(!all.contains("hello"))
        #expect(all.components(separatedBy: "HTTP/1.1 ").count == 2)
    }
}

@Suite("HTTPServer: timeouts, caps and shutdown", .timeLimit(.minutes(1)))
struct ServerLifecycleTests {
    @Test func headDeadlineIsAbsoluteAgainstSlowloris() async throws {
        let server = try makeServer { $0.headTimeout = .milliseconds(300) }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        let started = ContinuousClock.now
        // Trickle one byte every 50 ms, as slowloris does; each byte would reset a naive idle timer.
        let trickle = Task {
            for byte in "GET /hello HTTP/1.1\r\nX-Slow: \(String(repeating: "x", count: 600))".utf8 {
                try await client.send([byte])
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let response = try await client.readResponse()
        trickle.cancel()
        #expect(response.status == 408)
        // The trickle would go on for 30 s; the absolute 300 ms head deadline ends it long before
        // (the bound is loose for a loaded two-core machine: CI has seen 10.6 s).
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func idleConnectionIsClosed() async throws {
        let server = try makeServer { $0.idleTimeout = .milliseconds(200) }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let silent = try RawHTTPClient(port: server.port)
        #expect(try await silent.waitForClose())
        let keptAlive = try RawHTTPClient(port: server.port)
        try await keptAlive.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await keptAlive.readResponse().status == 200)
        #expect(try await keptAlive.waitForClose())
    }

    @Test func stalledBodyTimesOut() async throws {
        let server = try makeServer { $0.bodyTimeout = .milliseconds(200) }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("POST /echo HTTP/1.1\r\n\(host)Content-Length: 10\r\n\r\nabcde")
        #expect(try await client.readResponse().status == 408)
        #expect(try await client.waitForClose())
    }

    /// Loops of its own: in two full CI runs a connection closed on the loops the suite shares
    /// was still counted 20 s later (why is not known yet; the loop watchdog now reports a loop
    /// held up by one piece of work), which is not what this test is about.
    static let capLoops = EventLoopGroup(count: 1, name: "test.cap")

    @Test func connectionCapAnswers503() async throws {
        let server = try makeServer { config in
            config.maxConnections = 2
            config.loops = Self.capLoops
        }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let first = try RawHTTPClient(port: server.port)
        let second = try RawHTTPClient(port: server.port)
        for client in [first, second] {
            try await client.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
            #expect(try await client.readResponse().status == 200)
        }
        let third = try RawHTTPClient(port: server.port)
        try await third.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        let refused = try await third.readResponse()
        #expect(refused.status == 503)
        #expect(refused.headers["retry-after"] == "1")
        // Capacity comes back when a connection goes.
        try await first.send("GET /hello HTTP/1.1\r\n\(host)Connection: close\r\n\r\n")
        _ = try await first.readResponse()
        #expect(try await first.waitForClose())
        first.close()
        // The server counts the connection gone once its loop has closed it (on a loaded loop,
        // shared by the suite, a moment after the client saw the close): watched, not guessed
        // with a storm of refused attempts.
        let deadline = ContinuousClock.now + .seconds(20)
        while server.connectionCount > 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let fourth = try RawHTTPClient(port: server.port)
        try await fourth.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        let served = try await fourth.readResponse().status == 200
        #expect(served, "connections still counted: \(server.connectionCount)")
    }

    /// A refused client whose request reaches the server only after the 503 was sent reads the
    /// 503 and then an orderly close, not a reset: the server drains the refused socket before
    /// closing it, since input arriving at a closed socket is answered with a reset, and some
    /// systems (Windows) then discard a received 503 the client has not read yet.
    @Test func aRequestArrivingAfterTheRefusalStillGetsThe503() async throws {
        let server = try makeServer { config in
            config.maxConnections = 1
            config.loops = Self.capLoops
            config.lingerTimeout = .seconds(60)  // the drain outlasts a stalled test (not timed here)
        }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let holder = try RawHTTPClient(port: server.port)
        try await holder.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await holder.readResponse().status == 200)
        for _ in 0..<3 {
            let refused = try RawHTTPClient(port: server.port)
            #expect(try await refused.waitUntilReadable())  // the 503 is here, unread
            try await refused.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
            let response = try await refused.readResponse()
            #expect(response.status == 503)
            #expect(try await refused.closesCleanly())
        }
    }

    @Test func gracefulShutdownLetsInFlightRequestFinish() async throws {
        let gate = Gate()
        let entered = Gate()
        let server = try makeServer(routes: { router in
            router.add("GET", "/slow") { _ in
                entered.open()
                await gate.wait()
                return .text(.ok, "finished")
            }
        })
        let port = server.port
        let idle = try RawHTTPClient(port: port)
        try await idle.send("GET /hello HTTP/1.1\r\n\(host)\r\n")
        #expect(try await idle.readResponse().status == 200)
        let busy = try RawHTTPClient(port: port)
        try await busy.send("GET /slow HTTP/1.1\r\n\(host)\r\n")
        await entered.wait()

        let shutdown = Task { await server.shutdown(gracePeriod: .seconds(10)) }
        // The idle keep-alive connection is closed at once, and the listener is closed. (Not checked
        // by connecting: a parallel test's server may already have been given the same port.)
        #expect(try await idle.waitForClose())
        #expect(!server.isAccepting)

        gate.open()
        let response = try await busy.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText == "finished")
        #expect(response.headers["connection"] == "close")
        await shutdown.value
        #expect(server.connectionCount == 0)
    }

    @Test func shutdownDeadlineForceClosesStragglers() async throws {
        let gate = Gate()
        let entered = Gate()
        let server = try makeServer(routes: { router in
            router.add("GET", "/stuck") { _ in
                entered.open()
                await gate.wait()
                return .text(.ok, "late")
            }
        })
        defer { gate.open() }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /stuck HTTP/1.1\r\n\(host)\r\n")
        await entered.wait()
        await server.shutdown(gracePeriod: .milliseconds(100))
        #expect(server.connectionCount == 0)
        #expect(try await client.waitForClose())
    }
}

@Suite("ConnectionStateMachine")
struct ConnectionStateMachineTests {
    let timeouts = ConnectionStateMachine.Timeouts(head: 100, idle: 1000, body: 50, write: 70, linger: 20)

    @Test func headDeadlineDoesNotMoveWithTrickledBytes() {
        var m = ConnectionStateMachine(timeouts: timeouts, now: 0)
        #expect(m.deadline == 1000)
        m.bytesReceived(now: 10, inBody: false)
        #expect(m.deadline == 110)
        m.bytesReceived(now: 90, inBody: false)
        #expect(m.deadline == 110)
        #expect(m.timeoutAction(now: 109) == .none)
        #expect(m.timeoutAction(now: 110) == .requestTimeout)
    }

    @Test func bodyDeadlineMovesWithProgress() {
        var m = ConnectionStateMachine(timeouts: timeouts, now: 0)
        m.bytesReceived(now: 10, inBody: false)
        m.headReceived(now: 20)
        #expect(m.deadline == 70)
        m.bytesReceived(now: 60, inBody: true)
        #expect(m.deadline == 110)
    }

    @Test func handlingHasNoDeadlineAndKeepAliveReturnsToIdle() {
        var m = ConnectionStateMachine(timeouts: timeouts, now: 0)
        m.bytesReceived(now: 1, inBody: false)
        m.requestDispatched()
        #expect(m.deadline == nil)
        #expect(m.timeoutAction(now: 1_000_000) == .none)
        m.writeProgress(now: 5)
        #expect(m.timeoutAction(now: 75) == .close)
        let keptAlive = m.responseFinished(now: 10, keepAlive: true)
        #expect(keptAlive)
        #expect(m.phase == .idle)
        #expect(m.deadline == 1010)
    }

    @Test func drainingClosesIdleAtOnceAndBusyAfterResponse() {
        var idle = ConnectionStateMachine(timeouts: timeouts, now: 0)
        let closesNow = idle.beginDraining()
        #expect(closesNow)
        var busy = ConnectionStateMachine(timeouts: timeouts, now: 0)
        busy.bytesReceived(now: 1, inBody: false)
        busy.requestDispatched()
        let busyClosesNow = busy.beginDraining()
        #expect(!busyClosesNow)
        let keptAlive = busy.responseFinished(now: 2, keepAlive: true)
        #expect(!keptAlive)
    }
}

@Suite("slow clients", .timeLimit(.minutes(2)))
struct SlowClientTests {
    static let loops = EventLoopGroup(count: 1, name: "test.slow")

    /// SPEC §13: 500 idle and slowloris connections do not stop a normal client from being
    /// served, and the head and idle timeouts close them.
    @Test func fiveHundredSlowConnectionsDoNotStarveANormalClient() async throws {
        let server = try makeServer { config in
            config.headTimeout = .seconds(2)
            config.idleTimeout = .seconds(2)
            // Loops of its own: what is measured is this server under 500 slow clients, not the
            // other tests' servers, which share the process's loops.
            config.loops = SlowClientTests.loops
        }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        var hogs: [RawHTTPClient] = []
        for i in 0..<500 {
            let client = try RawHTTPClient(port: server.port)
            if i % 2 == 1 { try await client.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ") }  // a head that never ends
            hogs.append(client)
        }
        // Fifty of the slow heads keep trickling a byte every 100 ms, as slowloris does.
        let tricklers = hogs.enumerated().filter { $0.offset % 2 == 1 }.prefix(50).map(\.element)
        let trickle = Task {
            for _ in 0..<100 {
                for client in tricklers { try? await client.send("x") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { trickle.cancel() }
        let started = ContinuousClock.now
        let normal = try RawHTTPClient(port: server.port)
        try await normal.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try await normal.readResponse().bodyText == "hello")
        #expect(ContinuousClock.now - started < .seconds(1))
        // The timeouts then close every slow connection (the trickling ones too: the head
        // deadline is absolute).
        var remaining = server.connectionCount
        for _ in 0..<100 where remaining > 1 {
            try await Task.sleep(for: .milliseconds(100))
            remaining = server.connectionCount
        }
        #expect(remaining <= 1, "\(remaining) connections still open")
        #expect(try await hogs[1].waitForClose())
        #expect(try await hogs[0].waitForClose())
    }
}
