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
