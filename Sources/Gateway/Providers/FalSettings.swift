import Domain

/// `providers.fal`: fal's queue API.
public struct FalSettings: ProviderSettings {
    public static let configKey = "fal"
    public static let secretFields = [SecretField.optional("providers.fal.key", "FAL_KEY", \.providers.fal.key)]
    public static let environmentOverrides: [String: @Sendable (inout FalSettings, String) -> Void] = ["FAL_BASE_URL": { $0.baseURL = $1 }]

    public var key: String?
    public var baseURL = "https://queue.fal.run"
    public var pollIntervalSeconds: Double = 3
    public var limits = Configuration.ProviderLimits(maxConcurrent: 8, requestsPerMinute: 300)
    public init() {}

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["key", "baseURL", "pollIntervalSeconds", "limits"])
        key = try c.value("key", key)
        baseURL = try c.value("baseURL", baseURL)
        pollIntervalSeconds = try c.value("pollIntervalSeconds", pollIntervalSeconds)
        limits = try c.limits(limits)
    }
}

extension Configuration.Providers {
    public var fal: FalSettings {
        get { self[FalSettings.self] }
        set { self[FalSettings.self] = newValue }
    }
}
