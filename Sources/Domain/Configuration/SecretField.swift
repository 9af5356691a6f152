/// One secret in the configuration: where it lives, the environment variable that may set it,
/// and how to read and rewrite it.
///
/// ``SecretField/core`` and each provider's ``ProviderSettings/secretFields`` are the one list
/// behind environment overrides of secrets, `check-config` masking and log scrubbing, so a secret
/// added to the configuration is declared once, beside its field, and handled everywhere (a test
/// walks the whole configuration to hold that).
public struct SecretField: Sendable {
    /// Where it sits in the file, `[]` standing for every element (`providers.taskapi[].apiKey`).
    public let path: String
    /// The environment variable that overrides it, if any.
    public let environment: String?
    let values: @Sendable (Configuration) -> [String]
    let rewrite: @Sendable (inout Configuration, (String) -> String) -> Void
    let assign: (@Sendable (inout Configuration, String) throws -> Void)?

    /// The secrets outside `providers`, in file order.
    public static let core: [SecretField] = [
        SecretField(
            path: "apiKeys[].key", environment: "REELGATE_API_KEYS",
            values: { $0.apiKeys.map(\.key) },
            rewrite: { config, change in for i in config.apiKeys.indices { config.apiKeys[i].key = change(config.apiKeys[i].key) } },
            assign: { config, text in config.apiKeys = try ConfigurationLoader.parseKeys(text) }),
        optional("webhooks.secret", "REELGATE_WEBHOOK_SECRET", \.webhooks.secret),
        optional("network.egressProxy", "REELGATE_EGRESS_PROXY", \.network.egressProxy),
        // The whole address: it holds the password (masked in every form by the store's own
        // errors; here the whole value goes).
        optional("database.url", "REELGATE_DATABASE_URL", \.database.url),
        objectStore("media.store.accessKeyId", "REELGATE_S3_ACCESS_KEY_ID", \.accessKeyId),
        objectStore("media.store.secretAccessKey", "REELGATE_S3_SECRET_ACCESS_KEY", \.secretAccessKey),
    ]

    /// A credential of an s3 media store: nothing when the store is local (its environment
    /// variable then has nothing to set; `REELGATE_S3_BUCKET` selects the s3 store first).
    private static func objectStore(_ path: String, _ environment: String, _ keyPath: any WritableKeyPath<ObjectStoreSettings, String?> & Sendable)
        -> SecretField
    {
        SecretField(
            path: path, environment: environment,
            values: { $0.media.store.objectStore?[keyPath: keyPath].map { [$0] } ?? [] },
            rewrite: { config, change in
                guard case .s3(var settings) = config.media.store else { return }
                settings[keyPath: keyPath] = settings[keyPath: keyPath].map(change)
                config.media.store = .s3(settings)
            },
            assign: { config, text in
                guard case .s3(var settings) = config.media.store else { return }
                settings[keyPath: keyPath] = text
                config.media.store = .s3(settings)
            })
    }

    public init(path: String, environment: String?, values: @escaping @Sendable (Configuration) -> [String],
                rewrite: @escaping @Sendable (inout Configuration, (String) -> String) -> Void,
                assign: (@Sendable (inout Configuration, String) throws -> Void)?) {
        self.path = path
        self.environment = environment
        self.values = values
        self.rewrite = rewrite
        self.assign = assign
    }

    /// An optional text field of the configuration, settable from `environment`.
    public static func optional(_ path: String, _ environment: String?, _ keyPath: any WritableKeyPath<Configuration, String?> & Sendable)
        -> SecretField
    {
        SecretField(
            path: path, environment: environment,
            values: { $0[keyPath: keyPath].map { [$0] } ?? [] },
            rewrite: { config, change in config[keyPath: keyPath] = config[keyPath: keyPath].map(change) },
            assign: environment.map { _ in { @Sendable config, text in config[keyPath: keyPath] = text } })
    }

    /// Every secret field of a configuration with these provider sections.
    public static func all(providers: [any ProviderSettings.Type]) -> [SecretField] {
        core + providers.flatMap { $0.secretFields }
    }

    /// Every secret field `config` has: the core ones and those of its provider sections.
    static func all(in config: Configuration) -> [SecretField] { all(providers: config.providers.all.map { type(of: $0) }) }

    /// Every secret value set in `config` (empty ones are not secrets).
    public static func values(in config: Configuration) -> [String] {
        all(in: config).flatMap { $0.values(config) }.filter { !$0.isEmpty }
    }

    /// `config` with every secret replaced by `change(secret)`.
    public static func rewriting(_ config: Configuration, _ change: (String) -> String) -> Configuration {
        var copy = config
        for field in all(in: config) { field.rewrite(&copy, change) }
        return copy
    }

    /// Applies the environment variables that set secrets.
    static func applyEnvironment(_ env: [String: String], to config: inout Configuration, providers: [any ProviderSettings.Type]) throws {
        for field in all(providers: providers) {
            guard let name = field.environment, let value = env[name], let assign = field.assign else { continue }
            try assign(&config, value)
        }
    }
}
