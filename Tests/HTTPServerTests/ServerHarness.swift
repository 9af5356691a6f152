import HTTP1
import HTTPServer
import TestSupport

/// Starts a server on port 0 with the given routes; the test shuts it down.
func makeServer(
    _ configure: (inout ServerConfiguration) -> Void = { _ in },
    routes: (Router) -> Void = { _ in }
) throws -> HTTPServer {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    let router = Router()
    router.get("/hello") { _ in HTTPResponse.text(.ok, "hello") }
    router.post("/echo") { request in HTTPResponse(status: .ok, bytes: request.body) }
    routes(router)
    let server = HTTPServer(configuration: configuration, responder: router)
    try server.start()
    return server
}

let host = "Host: t\r\n"
