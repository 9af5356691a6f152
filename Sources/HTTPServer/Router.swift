import Foundation
import HTTP1

/// Maps method and path to a handler, with `:name` path parameters.
///
/// Unknown paths get 404; a known path with another method gets 405 and `Allow`; HEAD is served
/// by the GET handler (the connection drops the body).
public final class Router: Responder, @unchecked Sendable {
    /// A handler that answers at once on the connection's queue, without a hop to another thread.
    public typealias SyncHandler = @Sendable (Request) -> HTTPResponse
    public typealias AsyncHandler = @Sendable (Request) async -> HTTPResponse

    enum Handler: Sendable {
        case sync(SyncHandler)
        case async(AsyncHandler)
    }

    /// Decides how much body a request may send, from its head (see ``BodyAdmission``).
    public typealias Admission = @Sendable (HTTPRequestHead) -> BodyAdmission

    struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Segment]
        let handler: Handler
        let admission: Admission?
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        /// `:name.ext`-style: a parameter followed by a fixed suffix inside one segment is not
        /// supported; routes split on `/` only.
    }

    // Routes are registered before the server starts and only read afterwards.
    private var routes: [Route] = []
    private let notFound: @Sendable (Request) -> HTTPResponse
    /// For routes without an admission of their own, and for requests no route takes.
    private let defaultAdmission: Admission

    public init(
        notFound: @escaping @Sendable (Request) -> HTTPResponse = { request in
            ServerConfiguration.plainJSONError(.notFound, "notFound", "no route for \(request.method) \(request.path)")
        },
        defaultAdmission: @escaping Admission = { _ in .serverLimit }
    ) {
        self.notFound = notFound
        self.defaultAdmission = defaultAdmission
    }

    /// Every registered route as `(method, pattern)`, for the OpenAPI coverage test.
    public var registeredRoutes: [(method: String, pattern: String)] { routes.map { ($0.method, $0.pattern) } }

    public func add(_ method: String, _ pattern: String, admission: Admission? = nil, _ handler: @escaping SyncHandler) {
        routes.append(Route(method: method, pattern: pattern, segments: Self.parse(pattern), handler: .sync(handler), admission: admission))
    }

    public func addAsync(_ method: String, _ pattern: String, admission: Admission? = nil, _ handler: @escaping AsyncHandler) {
        routes.append(Route(method: method, pattern: pattern, segments: Self.parse(pattern), handler: .async(handler), admission: admission))
    }

    public func get(_ pattern: String, _ handler: @escaping SyncHandler) { add("GET", pattern, handler) }
    public func post(_ pattern: String, _ handler: @escaping SyncHandler) { add("POST", pattern, handler) }

    static func parse(_ pattern: String) -> [Segment] {
        pattern.split(separator: "/").map { part in
            part.hasPrefix(":") ? .parameter(String(part.dropFirst())) : .literal(String(part))
        }
    }

    public func admit(_ head: HTTPRequestHead) -> BodyAdmission {
        let pathSegments = head.path.split(separator: "/", omittingEmptySubsequences: true)
        for route in routes where route.method == head.method || (head.method == "HEAD" && route.method == "GET") {
            guard Self.match(route.segments, pathSegments) != nil else { continue }
            return (route.admission ?? defaultAdmission)(head)
        }
        return defaultAdmission(head)
    }

    public func respond(to request: Request, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        let pathSegments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        for route in routes {
            guard let params = Self.match(route.segments, pathSegments) else { continue }
            let methodMatches = route.method == request.method || (request.method == "HEAD" && route.method == "GET")
            guard methodMatches else {
                allowed.append(route.method)
                continue
            }
            var routed = request
            routed.pathParameters = params
            switch route.handler {
            case .sync(let handler):
                completion(handler(routed))
            case .async(let handler):
                Task { completion(await handler(routed)) }
            }
            return
        }
        if allowed.isEmpty {
            completion(notFound(request))
        } else {
            if allowed.contains("GET") { allowed.append("HEAD") }
            var response = ServerConfiguration.plainJSONError(
                .methodNotAllowed, "methodNotAllowed", "\(request.method) is not allowed on \(request.path)")
            response.headers.add(name: "Allow", value: allowed.joined(separator: ", "))
            completion(response)
        }
    }

    static func match(_ segments: [Segment], _ path: [Substring]) -> [String: String]? {
        guard segments.count == path.count else { return nil }
        var params: [String: String] = [:]
        for (segment, part) in zip(segments, path) {
            switch segment {
            case .literal(let literal):
                guard part == literal else { return nil }
            case .parameter(let name):
                params[name] = percentDecode(part)
            }
        }
        return params
    }
}

// MARK: JSON helpers

extension HTTPResponse {
    /// A JSON response from an `Encodable` value.
    public static func json(_ value: some Encodable, status: HTTPStatus = .ok) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        do {
            let data = try encoder.encode(value)
            return jsonBytes([UInt8](data), status: status)
        } catch {
            return ServerConfiguration.plainJSONError(.internalServerError, "internalError", "response encoding failed")
        }
    }

    /// A JSON response from bytes already serialised.
    public static func jsonBytes(_ bytes: [UInt8], status: HTTPStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]), bytes: bytes)
    }
}

extension Request {
    /// Decodes the body as JSON.
    public func decodeJSON<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body))
    }
}
