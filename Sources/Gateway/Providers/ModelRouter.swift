import Domain
import Store

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

    /// The default routes: the simulator always; `google:gemini@omni-flash` to every configured
    /// upstream that serves it, in registry order (Gemini, fal, Runware), falling back down that
    /// list, or to the simulator when none is configured (the startup log says which). `models` in
    /// config overrides both.
    static func make(configuration: Configuration, entries: [ProviderEntry], log: (String) -> Void) -> ModelRouter {
        let providers = Dictionary(entries.map { ($0.provider.name, $0.provider) }, uniquingKeysWith: { first, _ in first })
        var routes: [String: [Route]] = [:]
        if let simulator = providers["simulator"] {
            routes["reelgate:simulator@1"] = [Route(provider: simulator, upstreamModel: "simulator")]
        }
        var omni = entries.compactMap { entry in entry.omniFlashModel.map { Route(provider: entry.provider, upstreamModel: $0) } }
        if omni.isEmpty, let simulator = providers["simulator"] {
            omni = [Route(provider: simulator, upstreamModel: "simulator")]
            log("google:gemini@omni-flash routes to the simulator (no GEMINI_API_KEY, FAL_KEY or RUNWARE_API_KEY is set)")
        } else {
            log("google:gemini@omni-flash routes to " + omni.map(\.provider.name).joined(separator: ", then "))
        }
        routes["google:gemini@omni-flash"] = omni
        for (model, configured) in configuration.models {
            let resolved = configured.compactMap { route in providers[route.provider].map { Route(provider: $0, upstreamModel: route.model) } }
            if resolved.count < configured.count {
                log("models.\(model): some routes name providers that are not configured and are skipped")
            }
            if !resolved.isEmpty { routes[model] = resolved }
        }
        return ModelRouter(routes: routes)
    }
}
