import HTTP1
import HTTPServer
import TestSupport

/// The error shape an application gives the server (the server has none of its own): the
/// tests check that every error the server makes is rendered through it.
let jsonErrors: ErrorRenderer = { status, code, message in
    HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]),
                 bytes: Array("{\"errors\":[{\"code\":\"\(code)\",\"message\":\"\(message)\"}]}".utf8))
}

/// Starts a server on port 0 with the given routes; the test shuts it down.
func makeServer(
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    routes: (RouterBuilder) -> Void = { _ in }
) throws -> HTTPServer {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.render = jsonErrors
    // Timeouts far beyond any test's own pace, unless the test is about them: the whole suite
    // shares a cooperative pool of a thread per core, and a CI run has seen it stand still for
    // 8 s, long enough for a 10 s head deadline to close a connection a test had opened but not
    // yet written to.
    configuration.headTimeout = .seconds(60)
    configuration.idleTimeout = .seconds(60)
    configure(&configuration)
    let router = RouterBuilder(render: jsonErrors)
    router.get("/hello") { _ in HTTPResponse.text(.ok, "hello") }
    router.post("/echo") { request in HTTPResponse(status: .ok, bytes: request.body) }
    routes(router)
    let server = HTTPServer(configuration: configuration, responder: router.build())
    try server.start()
    return server
}

let host = "Host: t\r\n"
