import Curl
import Domain
import Foundation
import Store

/// The upstreams reelgate knows. Each adapter declares, in its own file, a ``ProviderRegistration``:
/// its key under `providers` in the configuration, how it is built from its settings (nothing when
/// its credentials are missing), the limits it runs under, and where it serves
/// `google:gemini@omni-flash`. `Application` builds whatever the registry lists; routes, limits
/// and reserved provider settings all come from here.
///
/// Each adapter's settings (its `providers` section: fields, defaults, secrets, environment
/// variables, rules) are a ``ProviderSettings`` type beside it (`GeminiSettings.swift`, …); the
/// configuration layer decodes, masks and checks them from ``settings``, before any adapter exists.
public enum ProviderRegistry {
    /// In the default fallback order of `google:gemini@omni-flash`.
    static let all: [ProviderRegistration] = [
        SimulatorProvider.registration, GeminiProvider.registration, FalProvider.registration, RunwareProvider.registration,
        TaskAPIProvider.registration,
    ]

    /// The `providers` sections the configuration may have: the catalog
    /// ``ConfigurationLoader/load(file:environment:providers:)`` decodes with.
    public static var settings: [any ProviderSettings.Type] { all.map(\.settings) }

    /// Every configured provider.
    static func build(_ context: ProviderContext) throws -> [ProviderEntry] {
        try all.flatMap { try $0.build(context) }
    }
}

/// How an adapter is made from the configuration.
struct ProviderRegistration: Sendable {
    /// Its `providers` section.
    let settings: any ProviderSettings.Type
    /// Its key under `providers` in the configuration file.
    var configKey: String { settings.configKey }
    /// `providerSettings` fields the adapter sets itself, which a request may not override: refused
    /// whether or not the adapter is configured, since a route may reach it later.
    var reservedSettings: (section: String, fields: Set<String>)? = nil
    let build: @Sendable (ProviderContext) throws -> [ProviderEntry]
}

/// A configured provider, as the rest of the gateway needs it.
struct ProviderEntry: Sendable {
    let provider: any VideoProvider
    /// The limits it always runs under (its gate): concurrency, request budget, breaker.
    let limits: Configuration.ProviderLimits
    /// The upstream model it serves `google:gemini@omni-flash` as, if it does.
    let omniFlashModel: String?

    init(_ provider: any VideoProvider, limits: Configuration.ProviderLimits, omniFlashModel: String? = nil) {
        self.provider = provider
        self.limits = limits
        self.omniFlashModel = omniFlashModel
    }
}

/// What a builder may use.
struct ProviderContext: Sendable {
    let configuration: Configuration
    let curl: CurlClient
    let urlGuard: URLGuard
    let store: any TaskStore
    let media: MediaStore

    /// A fetcher of task inputs (images, videos) with its scratch directory under the data dir,
    /// made here, by the adapter that needs it.
    func inputs(scratch name: String) throws -> InputFetcher {
        let scratch = "\(configuration.dataDir)/upstream/\(name)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        return InputFetcher(store: store, media: media, urlGuard: urlGuard, curl: curl, scratch: scratch)
    }
}
