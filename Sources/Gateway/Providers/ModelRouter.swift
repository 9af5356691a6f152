import Domain

/// Maps an inbound model id to its ordered provider routes (SPEC §8).
public struct ModelRouter: Sendable {
    public struct Route: Sendable {
        public let provider: any VideoProvider
        public let upstreamModel: String
    }

    private let routes: [String: [Route]]

    public init(routes: [String: [Route]]) {
        self.routes = routes
    }

    /// The inbound model ids accepted, for `unknownModel`'s allowed values.
    public var models: [String] { routes.keys.sorted() }

    public func routes(for model: String) -> [Route] { routes[model] ?? [] }

    public func provider(named name: String) -> (any VideoProvider)? {
        for list in routes.values { if let r = list.first(where: { $0.provider.name == name }) { return r.provider } }
        return nil
    }

    /// The default routes: the simulator always; Gemini Omni Flash to Gemini when a key is set,
    /// else to the simulator (the startup log says which); config routes override both.
    public static func make(configuration: Configuration, providers: [String: any VideoProvider], log: (String) -> Void) -> ModelRouter {
        let geminiModel = configuration.providers.gemini.model
        var routes: [String: [Route]] = [:]
        if let simulator = providers["simulator"] {
            routes["reelgate:simulator@1"] = [Route(provider: simulator, upstreamModel: "simulator")]
            if let gemini = providers["gemini"] {
                routes["google:gemini@omni-flash"] = [Route(provider: gemini, upstreamModel: geminiModel)]
                log("google:gemini@omni-flash routes to gemini")
            } else {
                routes["google:gemini@omni-flash"] = [Route(provider: simulator, upstreamModel: "simulator")]
                log("google:gemini@omni-flash routes to the simulator (GEMINI_API_KEY is not set)")
            }
        }
        for (model, configured) in configuration.models {
            let resolved = configured.compactMap { route in providers[route.provider].map { Route(provider: $0, upstreamModel: route.model) } }
            if !resolved.isEmpty { routes[model] = resolved }
        }
        return ModelRouter(routes: routes)
    }
}
