import Crypto
import Domain
import Foundation
import HTTP1
import HTTPServer
import Store
import Synchronization
import WebSocket

/// The Runware WebSocket transport (SPEC §15): `GET /v1` and `GET /` with `Upgrade: websocket`,
/// on the same port as REST, handed to a ``RunwareSocketSession`` per connection.
///
/// Everything a socket asks for goes through ``TaskAPI/run(_:principal:)``, the code REST uses,
/// so validation, idempotency, per-key limits and tenancy cannot drift apart.
final class RunwareWebSocketEndpoint: Sendable {
    struct Settings: Sendable {
        var maxMessageBytes = 25 << 20
        /// Before authentication a message may be only this large (as a REST body without a key).
        var unauthenticatedMessageBytes = 16 << 10
        var idleTimeout: Duration = .seconds(120)
        /// How long a socket may take to authenticate (the HTTP head timeout: an unauthenticated
        /// socket costs a connection slot and should not hold it for a session's idle time).
        var authenticationTimeout: Duration = .seconds(10)
        /// How long one message may take to arrive whole (the HTTP body deadline).
        var messageDeadline: Duration = .seconds(300)
        /// Between the error for a bad key and the close (an immediate close makes the legacy
        /// SDK hang now and then in its reconnect loop).
        var badKeyCloseDelay: Duration = .seconds(1)
        /// How long a goodbye waits for the client's close after sending ours.
        var closeWait: Duration = .seconds(2)
    }

    let api: TaskAPI
    let sessions: WebSocketSessions
    let authenticator: Authenticator
    let settings: Settings
    let logger: Logger
    let metrics: Metrics
    /// Sockets past their handshake, for `/metrics`.
    let openSockets = Atomic<Int>(0)

    init(api: TaskAPI, sessions: WebSocketSessions, authenticator: Authenticator, settings: Settings, logger: Logger, metrics: Metrics) {
        self.api = api
        self.sessions = sessions
        self.authenticator = authenticator
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
    }

    func register(on router: RouterBuilder) {
        let handler: Router.UpgradeHandler = { [self] request in try upgrade(request) }
        router.addUpgrade("GET", "/v1", handler)
        router.addUpgrade("GET", "/", handler)
    }

    /// The opening handshake: 101 and a session, or the RFC 6455 §4.2.1 refusal.
    func upgrade(_ request: Request) throws -> Reply {
        switch WebSocketHandshake.evaluate(request.head) {
        case .accept(let key):
            let headers = WebSocketHandshake.responseHeaders(key: key, sha1: Crypto.sha1)
            return Reply(HTTPResponse(status: .switchingProtocols, headers: headers),
                         upgrade: RunwareSocketSession(endpoint: self, remote: request.remoteAddress))
        case .upgradeRequired:
            throw HandshakeRefusal(status: 426, code: "upgradeRequired",
                                   message: "this URL takes POST (REST) or a WebSocket upgrade (GET with Upgrade: websocket)",
                                   headers: [("Upgrade", "websocket"), ("Sec-WebSocket-Version", WebSocketHandshake.version)])
        case .unsupportedVersion:
            throw HandshakeRefusal(status: 426, code: "unsupportedWebSocketVersion", message: "only WebSocket version 13 is supported",
                                   headers: [("Sec-WebSocket-Version", WebSocketHandshake.version)])
        case .badRequest(let reason):
            throw HandshakeRefusal(status: 400, code: "invalidWebSocketHandshake", message: reason, headers: [])
        }
    }

    /// A refused handshake, in the API's error shape.
    struct HandshakeRefusal: HTTPResponseError {
        let status: Int
        let code: String
        let message: String
        let headers: [(String, String)]

        var response: HTTPResponse {
            var response = APIError.renderServerError(HTTPStatus(status), code, message)
            for (name, value) in headers { response.headers.add(name: name, value: value) }
            return response
        }
    }
}
