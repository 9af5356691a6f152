import Domain

/// `providers.runware`: Runware's REST API as an upstream.
public struct RunwareSettings: ProviderSettings {
    public static let configKey = "runware"
    public static let secretFields = [SecretField.optional("providers.runware.apiKey", "RUNWARE_API_KEY", \.providers.runware.apiKey)]
    public static let environmentOverrides: [String: @Sendable (inout RunwareSettings, String) -> Void] = [
        "RUNWARE_BASE_URL": { $0.baseURL = $1 },
    ]

    public var apiKey: String?
    public var baseURL = "https://api.runware.ai/v1"
    public var pollIntervalSeconds: Double = 3
    public var limits = Configuration.ProviderLimits(maxConcurrent: 16, requestsPerMinute: 600)
    public init() {}

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["apiKey", "baseURL", "pollIntervalSeconds", "limits"])
        apiKey = try c.value("apiKey", apiKey)
        baseURL = try c.value("baseURL", baseURL)
        pollIntervalSeconds = try c.value("pollIntervalSeconds", pollIntervalSeconds)
        limits = try c.limits(limits)
    }
}

extension Configuration.Providers {
    public var runware: RunwareSettings {
        get { self[RunwareSettings.self] }
        set { self[RunwareSettings.self] = newValue }
    }
}
