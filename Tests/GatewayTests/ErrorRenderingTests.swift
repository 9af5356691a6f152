import Domain
import Foundation
@testable import Gateway
import HTTP1
import HTTPServer
import Synchronization
import Testing

/// Records what a router reports, for tests that drive a router without sockets.
final class RecordingObserver: RequestObserver, Sendable {
    let failures = Mutex<[String]>([])
    func requestFinished(method: String, route: String?, status: Int, seconds: Double) {}
    func handlerFailed(method: String, route: String, error: any Error) { failures.withLock { $0.append("\(route): \(error)") } }
}

struct InternalFailure: Error, CustomStringConvertible {
    var description: String { "SQLite error 10: disk I/O error (errno 5) in UPDATE health SET checked_at" }
}

/// Errors render themselves once, and internal text never reaches a client (issue 11.2).
/// Through the router, without sockets: sockets are not the point here.
@Suite("error rendering")
struct ErrorRenderingTests {
    func request(_ method: String, _ path: String) -> Request {
        Request(head: HTTPRequestHead(method: method, target: path, headers: HTTPHeaders([("Host", "t")])))
    }

    @Test func aThrownAPIErrorRendersWithItsCodesStatus() async {
        let router = RouterBuilder(render: APIError.renderServerError)
        router.get("/missing") { _ in throw APIError(.taskNotFound, "no task x") }
        router.get("/limited") { _ in throw APIError(.rateLimitExceeded, "slow down", retryAfter: 7) }
        let built = router.build()
        let missing = await built.respond(to: request("GET", "/missing")).response
        #expect(missing.status.code == 404)
        guard case .bytes(let body) = missing.body else { Issue.record("not bytes"); return }
        let json = try? JSONParser.parse(body)
        #expect(json?["errors"]?.array?.first?["code"] == "taskNotFound")
        let limited = await built.respond(to: request("GET", "/limited")).response
        #expect(limited.status.code == 429 && limited.headers["retry-after"] == "7")
        // One code, one status, wherever it is used.
        #expect(APIErrorCode.taskNotFound.status == 404 && APIErrorCode.invalid("duration").name == "invalidDuration")
    }

    @Test func anUnexpectedErrorIsA500WithoutItsDetailWhichGoesToTheLog() async {
        let observer = RecordingObserver()
        let router = RouterBuilder(render: APIError.renderServerError, observer: observer)
        router.get("/broken") { _ in throw InternalFailure() }
        let response = await router.build().respond(to: request("GET", "/broken")).response
        #expect(response.status.code == 500)
        guard case .bytes(let body) = response.body else { Issue.record("not bytes"); return }
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains("internalError"))
        #expect(!text.contains("SQLite") && !text.contains("errno") && !text.contains("UPDATE"))
        #expect(observer.failures.withLock { $0 } == ["/broken: SQLite error 10: disk I/O error (errno 5) in UPDATE health SET checked_at"])
    }

    @Test func readinessNeverShowsTheDatabaseError() async throws {
        let router = RouterBuilder(render: APIError.renderServerError)
        HealthRoutes.register(on: router, logger: Logger(minimum: .error, fd: -1), checkWritable: { throw InternalFailure() }, isDraining: { false })
        let response = await router.build().respond(to: request("GET", "/readyz")).response
        #expect(response.status.code == 503)
        guard case .bytes(let body) = response.body else { Issue.record("not bytes"); return }
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains("does not take writes"))
        #expect(!text.contains("SQLite") && !text.contains("errno"))
    }

    @Test func theServerHasNoErrorShapeOfItsOwn() {
        let plain = ServerConfiguration.plainTextError(.badRequest, "invalidHeaderName", "header field name is not a token")
        #expect(plain.headers["content-type"]?.hasPrefix("text/plain") == true)
    }
}
