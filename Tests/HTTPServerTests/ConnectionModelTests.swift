import Dispatch
import Foundation
import Glibc
import HTTP1
import HTTPServer
import Synchronization
import TestSupport
import Testing

/// A protocol that echoes every byte back until the peer closes: the upgrade hook's test.
struct EchoUpgrade: ConnectionUpgrade {
    func run(_ socket: UpgradedSocket) async {
        while case .bytes(let bytes) = await socket.read(idleTimeout: .seconds(60)) {  // the test is about the upgrade, not idling
            guard await socket.write(bytes) else { return }
        }
    }
}

/// The connection seam's one concurrency model (issue 11.1).
@Suite("HTTPServer: one loop per connection on its event loop", .timeLimit(.minutes(1)))
struct ConnectionModelTests {
    /// A handler runs on its connection's event loop, and an `await` on another queue (as a store
    /// call does) comes back to the same thread: two thread switches, not four.
    @Test func aHandlerComesBackToItsLoopAfterAnAwait() async throws {
        let elsewhere = DispatchQueue(label: "test.database")
        let server = try makeServer(routes: { router in
            router.get("/where") { _ in
                let before = pthread_self()
                let resumedFrom: pthread_t = await withCheckedContinuation { continuation in
                    elsewhere.async { continuation.resume(returning: pthread_self()) }
                }
                let after = pthread_self()
                return .text(.ok, "\(pthread_equal(before, after) != 0) \(pthread_equal(before, resumedFrom) != 0)")
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        for _ in 0..<5 {
            try await client.send("GET /where HTTP/1.1\r\n\(host)\r\n")
            #expect(try await client.readResponse().bodyText == "true false")
        }
    }

    /// A handler is entered without an executor switch: it runs isolated to its connection (a
    /// nonisolated handler would see no isolation here), and two requests on two connections
    /// run isolated to two different connections.
    @Test func aHandlerRunsIsolatedToItsConnection() async throws {
        let server = try makeServer(routes: { router in
            router.get("/isolation") { _ in
                guard let actor = #isolation else { return .text(.ok, "none") }
                return .text(.ok, "\(type(of: actor)) \(ObjectIdentifier(actor).hashValue)")
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        var seen: [String] = []
        var clients: [RawHTTPClient] = []  // both connections open: a closed one's address could be reused
        for _ in 0..<2 {
            let client = try RawHTTPClient(port: server.port)
            clients.append(client)
            try await client.send("GET /isolation HTTP/1.1\r\n\(host)\r\n")
            let first = try await client.readResponse().bodyText
            try await client.send("GET /isolation HTTP/1.1\r\n\(host)\r\n")
            #expect(try await client.readResponse().bodyText == first)  // the same connection
            seen.append(first)
        }
        #expect(seen.allSatisfy { $0.hasPrefix("Connection ") })
        #expect(Set(seen).count == 2)
    }

    /// `offLoop` leaves the loop even from a handler, which inherits its connection's isolation
    /// (a function that inherited it too would run its body on the loop).
    @Test func offLoopRunsItsBodyOnAnotherThread() async throws {
        let server = try makeServer(routes: { router in
            router.get("/off") { _ in
                let handler = pthread_self()
                let body = await offLoop { pthread_self() }
                return .text(.ok, "\(pthread_equal(handler, body) != 0) \(pthread_equal(handler, pthread_self()) != 0)")
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /off HTTP/1.1\r\n\(host)\r\n")
        #expect(try await client.readResponse().bodyText == "false true")  // off the loop, and back
    }

    /// A reset while a handler runs cancels the handler's task: its work is of no use.
    @Test func aResetCancelsTheHandler() async throws {
        let entered = Gate()
        let cancelled = Gate()
        let server = try makeServer(routes: { router in
            router.get("/long") { _ in
                entered.open()
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.open()
                }
                return .text(.ok, "late")
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /long HTTP/1.1\r\n\(host)\r\n")
        await entered.wait()
        client.reset()
        await cancelled.wait()  // the test's time limit fails it if the sleep is never cancelled
    }

    /// A handler can switch the connection to another protocol: after `101`, the socket belongs
    /// to the upgrade, bytes the client sent right behind the request included.
    @Test func anUpgradeTakesOverTheSocket() async throws {
        let server = try makeServer(routes: { router in
            router.addUpgrade("GET", "/echo") { request in
                guard request.headers["upgrade"] == "test-echo" else { return Reply(.text(HTTPStatus(426), "upgrade required")) }
                let response = HTTPResponse(status: .switchingProtocols, headers: HTTPHeaders([("Upgrade", "test-echo"), ("Connection", "Upgrade")]))
                return Reply(response, upgrade: EchoUpgrade())
            }
        })
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /echo HTTP/1.1\r\n\(host)Upgrade: test-echo\r\nConnection: Upgrade\r\n\r\nearly bytes|")
        let switched = try await client.readResponse()
        #expect(switched.status == 101)
        #expect(switched.headers["upgrade"] == "test-echo")
        #expect(switched.headers["connection"] == "Upgrade")
        #expect(switched.headers["content-length"] == nil)
        try await client.send("and more")
        var echoed = ""
        while echoed.count < "early bytes|and more".count {
            echoed += String(decoding: try await client.readSome(), as: UTF8.self)
        }
        #expect(echoed == "early bytes|and more")
        #expect(server.connectionCount == 1)  // still counted against the cap
        client.close()
        for _ in 0..<2000 where server.connectionCount > 0 { try await Task.sleep(for: .milliseconds(5)) }  // up to 10 s on a loaded machine
        #expect(server.connectionCount == 0)
        // Without the Upgrade header the same route answers as plain HTTP.
        let plain = try RawHTTPClient(port: server.port)
        try await plain.send("GET /echo HTTP/1.1\r\n\(host)\r\n")
        #expect(try await plain.readResponse().status == 426)
    }

    /// A long body to a peer that takes it as fast as it comes does not hold the loop: another
    /// connection on the same loop is answered between its pieces, not after its end.
    @Test func aLongBodySharesItsLoop() async throws {
        let loops = EventLoopGroup(count: 1, name: "test.share")
        let answeredAfter = Mutex<Int?>(nil)
        let box = Mutex<HTTPServer?>(nil)
        let sent = Atomic<Bool>(false)
        // The body's second piece waits (on the loop) until the other request is sent and its
        // connection accepted: from then on its turns on the loop are queued among the body's
        // pieces (each of which takes 2 ms), and only the loop decides which run first.
        let source = Pieces(count: 100) { sent.load(ordering: .acquiring) && box.withLock { $0 }?.connectionCount ?? 0 >= 2 }
        let server = try makeServer({ $0.loops = loops }, routes: { router in
            router.get("/long") { _ in HTTPResponse(status: .ok, body: .stream(length: Int64(source.total), source: source)) }
            router.get("/other") { _ in
                answeredAfter.withLock { $0 = source.produced }
                return .text(.ok, "other")
            }
        })
        box.withLock { $0 = server }
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let long = try RawHTTPClient(port: server.port)
        try await long.send("GET /long HTTP/1.1\r\n\(host)\r\n")
        await source.started.wait()
        let other = try RawHTTPClient(port: server.port)
        try await other.send("GET /other HTTP/1.1\r\n\(host)\r\n")
        sent.store(true, ordering: .releasing)
        #expect(try await other.readResponse().bodyText == "other")
        #expect(try await long.readResponse().body.count == source.total)
        let after = try #require(answeredAfter.withLock { $0 })
        #expect(after < source.count / 2, "answered after \(after) of \(source.count) pieces")
    }

    /// Shutdown tells an upgraded protocol to say goodbye, and closes it if it does not.
    @Test func shutdownReachesAnUpgradedConnection() async throws {
        let server = try makeServer(routes: { router in
            router.addUpgrade("GET", "/echo") { _ in
                Reply(HTTPResponse(status: .switchingProtocols, headers: HTTPHeaders([("Upgrade", "test-echo"), ("Connection", "Upgrade")])),
                      upgrade: EchoUpgrade())
            }
        })
        let client = try RawHTTPClient(port: server.port)
        try await client.send("GET /echo HTTP/1.1\r\n\(host)Upgrade: test-echo\r\nConnection: Upgrade\r\n\r\n")
        #expect(try await client.readResponse().status == 101)
        await server.shutdown(gracePeriod: .seconds(5))
        #expect(server.connectionCount == 0)
        #expect(try await client.waitForClose())
    }
}

/// A body of small pieces (they fit the socket's buffer, so its write never waits for the peer);
/// the second waits until `proceed` says so (at most 20 s), the later ones take 2 ms each.
final class Pieces: ResponseBodySource, @unchecked Sendable {
    let count: Int
    static let pieceBytes = 1024
    var total: Int { count * Self.pieceBytes }
    let started = Gate()
    private let made = Mutex(0)
    private let proceed: @Sendable () -> Bool
    var produced: Int { made.withLock { $0 } }

    init(count: Int, proceed: @escaping @Sendable () -> Bool) {
        self.count = count
        self.proceed = proceed
    }

    func next(into buffer: inout [UInt8], maxBytes: Int) throws {
        let index = made.withLock { n in n < count ? { n += 1; return n }() : 0 }
        guard index > 0 else { return }
        if index == 1 { started.open() }
        if index == 2 { for _ in 0..<4000 where !proceed() { usleep(5000) } }
        if index > 2 { usleep(2000) }  // a producer with some work per piece
        buffer.append(contentsOf: [UInt8](repeating: UInt8(ascii: "x"), count: min(maxBytes, Self.pieceBytes)))
    }

    func close() {}
}
