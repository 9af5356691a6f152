/// One secret in the configuration: where it lives, the environment variable that may set it,
/// and how to read and rewrite it.
///
/// ``SecretField/all`` is the one list behind environment overrides of secrets, `check-config`
/// masking and log scrubbing, so a secret added to the configuration is added here once and
/// handled everywhere (a test walks the whole configuration to hold that).
public struct SecretField: Sendable {
    /// Where it sits in the file, `[]` standing for every element (`providers.taskapi[].apiKey`).
    public let path: String
    /// The environment variable that overrides it, if any.
    public let environment: String?
    let values: @Sendable (Configuration) -> [String]
    let rewrite: @Sendable (inout Configuration, (String) -> String) -> Void
    let assign: (@Sendable (inout Configuration, String) throws -> Void)?

    /// Every secret, in file order.
    public static let all: [SecretField] = [
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
        optional("providers.gemini.apiKey", "GEMINI_API_KEY", \.providers.gemini.apiKey),
        optional("providers.fal.key", "FAL_KEY", \.providers.fal.key),
        optional("providers.runware.apiKey", "RUNWARE_API_KEY", \.providers.runware.apiKey),
        SecretField(
            path: "providers.taskapi[].apiKey", environment: nil,
            values: { $0.providers.taskapi.compactMap(\.apiKey) },
            rewrite: { config, change in
                for i in config.providers.taskapi.indices { config.providers.taskapi[i].apiKey = config.providers.taskapi[i].apiKey.map(change) }
            },
            assign: nil),
    ]

    private static func optional(_ path: String, _ environment: String, _ keyPath: any WritableKeyPath<Configuration, String?> & Sendable)
        -> SecretField
    {
        SecretField(
            path: path, environment: environment,
            values: { $0[keyPath: keyPath].map { [$0] } ?? [] },
            rewrite: { config, change in config[keyPath: keyPath] = config[keyPath: keyPath].map(change) },
            assign: { config, text in config[keyPath: keyPath] = text })
    }

    /// Every secret value set in `config` (empty ones are not secrets).
    public static func values(in config: Configuration) -> [String] {
        all.flatMap { $0.values(config) }.filter { !$0.isEmpty }
    }

    /// `config` with every secret replaced by `change(secret)`.
    public static func rewriting(_ config: Configuration, _ change: (String) -> String) -> Configuration {
        var copy = config
        for field in all { field.rewrite(&copy, change) }
        return copy
    }

    /// Applies the environment variables that set secrets.
    static func applyEnvironment(_ env: [String: String], to config: inout Configuration) throws {
        for field in all {
            guard let name = field.environment, let value = env[name], let assign = field.assign else { continue }
            try assign(&config, value)
        }
    }
}
