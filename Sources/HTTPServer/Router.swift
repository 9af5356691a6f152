import Foundation
import HTTP1

/// Maps method and path to a handler, with `:name` path parameters; immutable once built (see
/// ``RouterBuilder``), so any number of connections read it without a lock.
///
/// Handlers are `async throws` and `nonisolated(nonsending)`: they run on the executor of the
/// connection that calls them (no switch to enter one). An ``HTTPResponseError`` renders itself;
/// anything else becomes a 500 whose detail goes to the ``RequestObserver``, never to the client.
/// Unknown paths get 404; a known path with another method gets 405 and `Allow`; HEAD is served
/// by the GET handler (the connection drops the body).
public final class Router: Responder {
    public typealias Handler = nonisolated(nonsending) @Sendable (Request) async throws -> HTTPResponse
    /// A handler that may switch the connection to another protocol.
    public typealias UpgradeHandler = nonisolated(nonsending) @Sendable (Request) async throws -> Reply
    /// Decides how much body a request may send, from its head (see ``BodyAdmission``).
    public typealias Admission = @Sendable (HTTPRequestHead) -> BodyAdmission

    struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Segment]
        let handler: UpgradeHandler
        let admission: Admission?
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    /// Routes without parameters, by path: found with one dictionary lookup.
    private let fixed: [String: [Route]]
    /// Routes with parameters by their number of segments, matched segment by segment.
    private let parameterised: [Int: [Route]]
    private let defaultAdmission: Admission
    private let render: ErrorRenderer
    private let observer: (any RequestObserver)?

    init(routes: [Route], defaultAdmission: @escaping Admission, render: @escaping ErrorRenderer, observer: (any RequestObserver)?) {
        var fixed: [String: [Route]] = [:]
        var parameterised: [Int: [Route]] = [:]
        for route in routes {
            if route.segments.contains(where: { if case .parameter = $0 { true } else { false } }) {
                parameterised[route.segments.count, default: []].append(route)
            } else {
                fixed["/" + route.segments.map { if case .literal(let s) = $0 { s } else { "" } }.joined(separator: "/"), default: []].append(route)
            }
        }
        self.fixed = fixed
        self.parameterised = parameterised
        self.defaultAdmission = defaultAdmission
        self.render = render
        self.observer = observer
    }

    /// Every route as `(method, pattern)`, for the OpenAPI coverage test.
    public var registeredRoutes: [(method: String, pattern: String)] {
        (fixed.values.flatMap { $0 } + parameterised.values.flatMap { $0 }).map { ($0.method, $0.pattern) }
    }

    /// What a request's method and path select: found once per request, when its head is
    /// admitted, and carried to ``respond(to:)`` in the ``Request``.
    enum Resolution: Sendable {
        case matched(Route, parameters: [String: String])
        /// The path is known, not with this method.
        case wrongMethod(pattern: String, allowed: [String])
        case notFound
    }

    /// The route for `method` on `path`. Paths match by their non-empty segments (`/v1/` and
    /// `//v1` are `/v1`); a fixed route costs one dictionary lookup and no allocation.
    func resolve(method: String, path: String) -> Resolution {
        if let routes = fixed[path] { return Self.pick(method, routes, parts: nil) }
        let parts = Self.segments(of: path)
        // Only a path with empty segments (`//v1`, `/v1/`) can be a fixed route spelled another way.
        if path.utf8.count != parts.reduce(0, { $0 + $1.utf8.count + 1 }), let routes = fixed["/" + parts.joined(separator: "/")] {
            return Self.pick(method, routes, parts: nil)
        }
        return Self.pick(method, parameterised[parts.count] ?? [], parts: parts)
    }

    /// The route for `method` among `routes`, which have the path's segment count; with `parts`,
    /// only those whose literal segments match it, and its parameters are taken from `parts`.
    private static func pick(_ method: String, _ routes: [Route], parts: [Substring]?) -> Resolution {
        var allowed: [String] = []
        var pattern: String?
        for route in routes {
            if let parts, !literalsMatch(route.segments, parts) { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .matched(route, parameters: parts.map { parameters(route.segments, $0) } ?? [:])
            }
            pattern = pattern ?? route.pattern
            allowed.append(route.method)
        }
        guard let pattern else { return .notFound }
        if allowed.contains("GET") { allowed.append("HEAD") }
        return .wrongMethod(pattern: pattern, allowed: allowed)
    }

    public func admit(_ head: HTTPRequestHead) -> BodyAdmission {
        let resolution = resolve(method: head.method, path: head.path)
        var admission: BodyAdmission
        if case .matched(let route, _) = resolution {
            admission = (route.admission ?? defaultAdmission)(head)
        } else {
            admission = defaultAdmission(head)
        }
        admission.resolution = resolution
        return admission
    }

    nonisolated(nonsending) public func respond(to request: Request) async -> Reply {
        let started = ContinuousClock.now
        let resolution = request.resolution ?? resolve(method: request.method, path: request.path)
        guard case .matched(let route, let parameters) = resolution else {
            let response: HTTPResponse
            var pattern: String?
            if case .wrongMethod(let known, let allowed) = resolution {
                pattern = known
                var refusal = render(.methodNotAllowed, "methodNotAllowed", "\(request.method) is not allowed on \(request.path)")
                refusal.headers.add(name: "Allow", value: allowed.joined(separator: ", "))
                response = refusal
            } else {
                response = render(.notFound, "notFound", "no route for \(request.method) \(request.path)")
            }
            observe(request, route: pattern, response, started)
            return Reply(response)
        }
        var routed = request
        routed.pathParameters = parameters
        routed.resolution = nil
        let reply: Reply
        do {
            reply = try await route.handler(routed)
        } catch let error as any HTTPResponseError {
            reply = Reply(error.response)
        } catch {
            observer?.handlerFailed(method: request.method, route: route.pattern, error: error)
            reply = Reply(render(.internalServerError, "internalError", "the request could not be completed"))
        }
        observe(request, route: route.pattern, reply.response, started)
        return reply
    }

    private func observe(_ request: Request, route: String?, _ response: HTTPResponse, _ started: ContinuousClock.Instant) {
        guard let observer else { return }
        let elapsed = ContinuousClock.now - started
        let (seconds, attoseconds) = elapsed.components
        observer.requestFinished(method: request.method, route: route, status: response.status.code,
                                 seconds: Double(seconds) + Double(attoseconds) / 1e18)
    }

    static func parse(_ pattern: String) -> [Segment] {
        pattern.split(separator: "/").map { part in
            part.hasPrefix(":") ? .parameter(String(part.dropFirst())) : .literal(String(part))
        }
    }

    /// The non-empty segments of `path`, split on its bytes (a split by `Character` costs more than
    /// the rest of routing).
    static func segments(of path: String) -> [Substring] {
        var parts: [Substring] = []
        let bytes = path.utf8
        var start = bytes.startIndex
        var index = start
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "/") {
                if start != index { parts.append(Substring(bytes[start..<index])) }
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        if start != bytes.endIndex { parts.append(Substring(bytes[start...])) }
        return parts
    }

    /// Whether every literal segment of a route is the path's segment there (same count).
    static func literalsMatch(_ segments: [Segment], _ path: [Substring]) -> Bool {
        for (segment, part) in zip(segments, path) {
            if case .literal(let literal) = segment, part != literal { return false }
        }
        return true
    }

    /// The path's values of a matching route's parameters, percent-decoded.
    static func parameters(_ segments: [Segment], _ path: [Substring]) -> [String: String] {
        var params: [String: String] = [:]
        for (segment, part) in zip(segments, path) {
            if case .parameter(let name) = segment { params[name] = percentDecode(part) }
        }
        return params
    }
}

/// Collects routes while the application starts, then builds the immutable ``Router``.
public final class RouterBuilder {
    private var routes: [Router.Route] = []
    private let defaultAdmission: Router.Admission
    private let render: ErrorRenderer
    private let observer: (any RequestObserver)?

    /// - Parameters:
    ///   - defaultAdmission: for routes without an admission of their own, and for requests no
    ///     route takes.
    ///   - render: how 404, 405 and 500 look.
    public init(
        defaultAdmission: @escaping Router.Admission = { _ in .serverLimit },
        render: @escaping ErrorRenderer = ServerConfiguration.plainTextError, observer: (any RequestObserver)? = nil
    ) {
        self.defaultAdmission = defaultAdmission
        self.render = render
        self.observer = observer
    }

    public func add(_ method: String, _ pattern: String, admission: Router.Admission? = nil, _ handler: @escaping Router.Handler) {
        routes.append(Router.Route(method: method, pattern: pattern, segments: Router.parse(pattern), handler: { Reply(try await handler($0)) },
                                   admission: admission))
    }

    /// A route whose handler may switch the connection to another protocol (``Reply/upgrade``).
    public func addUpgrade(_ method: String, _ pattern: String, _ handler: @escaping Router.UpgradeHandler) {
        routes.append(Router.Route(method: method, pattern: pattern, segments: Router.parse(pattern), handler: handler, admission: nil))
    }

    public func get(_ pattern: String, _ handler: @escaping Router.Handler) { add("GET", pattern, handler) }
    public func post(_ pattern: String, admission: Router.Admission? = nil, _ handler: @escaping Router.Handler) {
        add("POST", pattern, admission: admission, handler)
    }

    public func build() -> Router {
        Router(routes: routes, defaultAdmission: defaultAdmission, render: render, observer: observer)
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
            return ServerConfiguration.plainTextError(.internalServerError, "internalError", "response encoding failed")
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
