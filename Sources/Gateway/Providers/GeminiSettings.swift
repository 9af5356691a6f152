import Domain

/// `providers.gemini`: Google's Gemini Interactions API (Omni Flash).
public struct GeminiSettings: ProviderSettings {
    public static let configKey = "gemini"
    public static let secretFields = [SecretField.optional("providers.gemini.apiKey", "GEMINI_API_KEY", \.providers.gemini.apiKey)]
    public static let environmentOverrides: [String: @Sendable (inout GeminiSettings, String) -> Void] = [
        "GEMINI_BASE_URL": { $0.baseURL = $1 },
    ]

    public var apiKey: String?
    public var baseURL = "https://generativelanguage.googleapis.com"
    public var apiVersion = "v1beta"
    /// Seconds between polls of a running interaction.
    public var pollIntervalSeconds: Double = 5
    /// The upstream model `google:gemini@omni-flash` maps to.
    public var model = "gemini-omni-flash-preview"
    /// Limit for one create or poll call.
    public var requestTimeoutSeconds: Double = 60
    public var limits = Configuration.ProviderLimits(maxConcurrent: 16, requestsPerMinute: 300)
    public init() {}

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["apiKey", "baseURL", "apiVersion", "pollIntervalSeconds", "model", "requestTimeoutSeconds", "limits"])
        requestTimeoutSeconds = try c.value("requestTimeoutSeconds", requestTimeoutSeconds)
        limits = try c.limits(limits)
        apiKey = try c.value("apiKey", apiKey)
        baseURL = try c.value("baseURL", baseURL)
        apiVersion = try c.value("apiVersion", apiVersion)
        pollIntervalSeconds = try c.value("pollIntervalSeconds", pollIntervalSeconds)
        model = try c.value("model", model)
    }
}

extension Configuration.Providers {
    public var gemini: GeminiSettings {
        get { self[GeminiSettings.self] }
        set { self[GeminiSettings.self] = newValue }
    }
}
