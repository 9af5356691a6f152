import Domain

/// `providers.simulator`: the built-in upstream that needs no account.
public struct SimulatorSettings: ProviderSettings {
    public static let configKey = "simulator"
    public var latencySeconds: Double = 3
    public var failureRate: Double = 0
    public var limits = Configuration.ProviderLimits(maxConcurrent: 1_000_000, requestsPerMinute: 100_000_000)
    public init() {}

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["latencySeconds", "failureRate", "limits"])
        latencySeconds = try c.value("latencySeconds", latencySeconds)
        failureRate = try c.value("failureRate", failureRate)
        limits = try c.limits(limits)
    }

    public func validate(providerNames: Set<String>) throws {
        guard (0...1).contains(failureRate) else { throw ConfigurationError("providers.simulator.failureRate must be between 0 and 1") }
    }
}

extension Configuration.Providers {
    public var simulator: SimulatorSettings {
        get { self[SimulatorSettings.self] }
        set { self[SimulatorSettings.self] = newValue }
    }
}
