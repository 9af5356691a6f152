import Foundation

/// Decoding that fills defaults for missing keys and refuses unknown ones: a misspelt key in a
/// config file must be an error at start, not a silently ignored setting.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension KeyedDecodingContainer where K == AnyKey {
    func refuseUnknown(_ known: [String], in section: String) throws {
        for key in allKeys where !known.contains(key.stringValue) {
            throw ConfigurationError("unknown configuration key \(section.isEmpty ? "" : section + ".")\(key.stringValue)")
        }
    }

    func value<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: AnyKey(stringValue: key)) ?? fallback
    }
}

extension Configuration {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(
            ["listen", "dataDir", "publicURL", "apiKeys", "webhooks", "network", "workers", "providers", "models", "media",
             "server", "$comment"], in: "")
        listen = try c.value("listen", listen)
        dataDir = try c.value("dataDir", dataDir)
        publicURL = try c.value("publicURL", publicURL)
        apiKeys = try c.value("apiKeys", apiKeys)
        webhooks = try c.value("webhooks", webhooks)
        network = try c.value("network", network)
        workers = try c.value("workers", workers)
        providers = try c.value("providers", providers)
        models = try c.value("models", models)
        media = try c.value("media", media)
        server = try c.value("server", server)
    }
}

extension Configuration.Webhooks {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["secret", "retrySchedule", "timeoutSeconds"], in: "webhooks")
        secret = try c.value("secret", secret)
        retrySchedule = try c.value("retrySchedule", retrySchedule)
        timeoutSeconds = try c.value("timeoutSeconds", timeoutSeconds)
    }
}

extension Configuration.Network {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["allowHTTP", "allowHosts"], in: "network")
        allowHTTP = try c.value("allowHTTP", allowHTTP)
        allowHosts = try c.value("allowHosts", allowHosts)
    }
}

extension Configuration.Workers {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["count", "transferThreads", "retryBaseSeconds", "retryMaxSeconds", "maxAttempts"], in: "workers")
        count = try c.value("count", count)
        transferThreads = try c.value("transferThreads", transferThreads)
        retryBaseSeconds = try c.value("retryBaseSeconds", retryBaseSeconds)
        retryMaxSeconds = try c.value("retryMaxSeconds", retryMaxSeconds)
        maxAttempts = try c.value("maxAttempts", maxAttempts)
    }
}

extension Configuration.Providers {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["simulator", "gemini", "fal", "runware", "taskapi"], in: "providers")
        taskapi = try c.value("taskapi", taskapi)
        simulator = try c.value("simulator", simulator)
        gemini = try c.value("gemini", gemini)
        fal = try c.value("fal", fal)
        runware = try c.value("runware", runware)
    }
}

extension Configuration.Simulator {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["latencySeconds", "failureRate", "limits"], in: "providers.simulator")
        latencySeconds = try c.value("latencySeconds", latencySeconds)
        failureRate = try c.value("failureRate", failureRate)
        limits = try c.value("limits", limits)
    }
}

extension Configuration.Gemini {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["apiKey", "baseURL", "apiVersion", "pollIntervalSeconds", "model", "requestTimeoutSeconds", "limits"],
                            in: "providers.gemini")
        requestTimeoutSeconds = try c.value("requestTimeoutSeconds", requestTimeoutSeconds)
        limits = try c.value("limits", limits)
        apiKey = try c.value("apiKey", apiKey)
        baseURL = try c.value("baseURL", baseURL)
        apiVersion = try c.value("apiVersion", apiVersion)
        pollIntervalSeconds = try c.value("pollIntervalSeconds", pollIntervalSeconds)
        model = try c.value("model", model)
    }
}

extension Configuration.Fal {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["key", "baseURL", "pollIntervalSeconds", "limits"], in: "providers.fal")
        key = try c.value("key", key)
        baseURL = try c.value("baseURL", baseURL)
        pollIntervalSeconds = try c.value("pollIntervalSeconds", pollIntervalSeconds)
        limits = try c.value("limits", limits)
    }
}

extension Configuration.Runware {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["apiKey", "baseURL", "pollIntervalSeconds", "limits"], in: "providers.runware")
        apiKey = try c.value("apiKey", apiKey)
        baseURL = try c.value("baseURL", baseURL)
        pollIntervalSeconds = try c.value("pollIntervalSeconds", pollIntervalSeconds)
        limits = try c.value("limits", limits)
    }
}

extension Configuration.Media {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["maxBytes"], in: "media")
        maxBytes = try c.value("maxBytes", maxBytes)
    }
}

extension Configuration.Server {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(
            ["maxConnections", "headTimeoutSeconds", "idleTimeoutSeconds", "bodyTimeoutSeconds", "maxBodyBytes",
             "shutdownGraceSeconds"], in: "server")
        maxConnections = try c.value("maxConnections", maxConnections)
        headTimeoutSeconds = try c.value("headTimeoutSeconds", headTimeoutSeconds)
        idleTimeoutSeconds = try c.value("idleTimeoutSeconds", idleTimeoutSeconds)
        bodyTimeoutSeconds = try c.value("bodyTimeoutSeconds", bodyTimeoutSeconds)
        maxBodyBytes = try c.value("maxBodyBytes", maxBodyBytes)
        shutdownGraceSeconds = try c.value("shutdownGraceSeconds", shutdownGraceSeconds)
    }
}

extension Configuration.ProviderLimits {
    public init(from decoder: any Decoder) throws {
        self.init(maxConcurrent: 16, requestsPerMinute: 300)
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["maxConcurrent", "requestsPerMinute", "breakerThreshold", "breakerCooldownSeconds"], in: "providers.*.limits")
        maxConcurrent = try c.value("maxConcurrent", maxConcurrent)
        requestsPerMinute = try c.value("requestsPerMinute", requestsPerMinute)
        breakerThreshold = try c.value("breakerThreshold", breakerThreshold)
        breakerCooldownSeconds = try c.value("breakerCooldownSeconds", breakerCooldownSeconds)
    }
}
