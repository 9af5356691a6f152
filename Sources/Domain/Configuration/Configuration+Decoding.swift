import Foundation

/// Decoding that fills defaults for missing keys and refuses unknown ones: a misspelt key in a
/// config file must be an error at start, not a silently ignored setting. Every section names
/// itself by its real place in the file (`providers.taskapi[1].limits`), from the decoder's path.
public struct AnyKey: CodingKey {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) {
        stringValue = "[\(intValue)]"
        self.intValue = intValue
    }
}

public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `a.b[2].c` for a decoder's coding path.
public func configurationPath(_ keys: [any CodingKey]) -> String {
    var path = ""
    for key in keys {
        if let index = key.intValue {
            path += "[\(index)]"
        } else {
            path += (path.isEmpty ? "" : ".") + key.stringValue
        }
    }
    return path
}

extension Decoder {
    /// This section's keys, after refusing any key it does not know.
    public func section(_ known: [String]) throws -> KeyedDecodingContainer<AnyKey> {
        let c = try container(keyedBy: AnyKey.self)
        let path = configurationPath(codingPath)
        for key in c.allKeys where !known.contains(key.stringValue) {
            throw ConfigurationError("unknown configuration key \(path.isEmpty ? "" : path + ".")\(key.stringValue)")
        }
        return c
    }
}

extension KeyedDecodingContainer where K == AnyKey {
    public func value<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: AnyKey(stringValue: key)) ?? fallback
    }

    /// A provider's `limits`: the keys given replace that provider's defaults, the rest stay.
    public func limits(_ defaults: Configuration.ProviderLimits) throws -> Configuration.ProviderLimits {
        try decodeIfPresent(PartialProviderLimits.self, forKey: AnyKey(stringValue: "limits"))?.applied(to: defaults) ?? defaults
    }
}

/// `limits` as written in a file: only the keys present.
struct PartialProviderLimits: Decodable {
    var maxConcurrent: Int?
    var requestsPerMinute: Int?
    var breakerThreshold: Int?
    var breakerCooldownSeconds: Double?

    init(from decoder: any Decoder) throws {
        let c = try decoder.section(["maxConcurrent", "requestsPerMinute", "breakerThreshold", "breakerCooldownSeconds"])
        maxConcurrent = try c.value("maxConcurrent", nil)
        requestsPerMinute = try c.value("requestsPerMinute", nil)
        breakerThreshold = try c.value("breakerThreshold", nil)
        breakerCooldownSeconds = try c.value("breakerCooldownSeconds", nil)
    }

    func applied(to defaults: Configuration.ProviderLimits) -> Configuration.ProviderLimits {
        var limits = defaults
        if let maxConcurrent { limits.maxConcurrent = maxConcurrent }
        if let requestsPerMinute { limits.requestsPerMinute = requestsPerMinute }
        if let breakerThreshold { limits.breakerThreshold = breakerThreshold }
        if let breakerCooldownSeconds { limits.breakerCooldownSeconds = breakerCooldownSeconds }
        return limits
    }
}

extension Configuration {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(
            ["listen", "dataDir", "publicURL", "apiKeys", "webhooks", "network", "workers", "providers", "models", "openaiModels", "media",
             "server", "database", "$comment"])
        listen = try c.value("listen", listen)
        dataDir = try c.value("dataDir", dataDir)
        publicURL = try c.value("publicURL", publicURL)
        apiKeys = try c.value("apiKeys", apiKeys)
        webhooks = try c.value("webhooks", webhooks)
        network = try c.value("network", network)
        workers = try c.value("workers", workers)
        providers = try c.value("providers", providers)
        models = try c.value("models", models)
        openaiModels = try c.value("openaiModels", openaiModels)
        media = try c.value("media", media)
        server = try c.value("server", server)
        database = try c.value("database", database)
    }
}

extension Configuration.APIKey {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.section(["name", "key", "role", "tasksPerMinute", "maxInFlight"])
        let path = configurationPath(decoder.codingPath)
        func required<T: Decodable>(_ key: String) throws -> T {
            guard let value = try c.decodeIfPresent(T.self, forKey: AnyKey(stringValue: key)) else {
                throw ConfigurationError("configuration key \(path).\(key) is required")
            }
            return value
        }
        name = try required("name")
        key = try required("key")
        let roleText: String = try required("role")
        // The value is not echoed: a key pasted into the wrong field must not reach a log.
        guard let role = Configuration.Role(rawValue: roleText) else {
            throw ConfigurationError("\(path).role must be client or ops")
        }
        self.role = role
        tasksPerMinute = try c.value("tasksPerMinute", nil)
        maxInFlight = try c.value("maxInFlight", nil)
    }
}

extension Configuration.Webhooks {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(
            ["secret", "retrySchedule", "timeoutSeconds", "concurrency", "maxConcurrentPerKey", "maxConcurrentPerHost",
             "uploadTimeoutSeconds", "uploadMinBytesPerSecond", "redeliveriesPerKeyPerMinute", "redeliveryIntervalSeconds"])
        secret = try c.value("secret", secret)
        retrySchedule = try c.value("retrySchedule", retrySchedule)
        timeoutSeconds = try c.value("timeoutSeconds", timeoutSeconds)
        concurrency = try c.value("concurrency", concurrency)
        maxConcurrentPerKey = try c.value("maxConcurrentPerKey", maxConcurrentPerKey)
        maxConcurrentPerHost = try c.value("maxConcurrentPerHost", maxConcurrentPerHost)
        uploadTimeoutSeconds = try c.value("uploadTimeoutSeconds", uploadTimeoutSeconds)
        uploadMinBytesPerSecond = try c.value("uploadMinBytesPerSecond", uploadMinBytesPerSecond)
        redeliveriesPerKeyPerMinute = try c.value("redeliveriesPerKeyPerMinute", redeliveriesPerKeyPerMinute)
        redeliveryIntervalSeconds = try c.value("redeliveryIntervalSeconds", redeliveryIntervalSeconds)
    }
}

extension Configuration.Network {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["allowHTTP", "allowHosts", "egressProxy"])
        allowHTTP = try c.value("allowHTTP", allowHTTP)
        allowHosts = try c.value("allowHosts", allowHosts)
        egressProxy = try c.value("egressProxy", egressProxy)
    }
}

extension Configuration.Workers {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["count", "transferThreads", "retryBaseSeconds", "retryMaxSeconds", "maxAttempts", "leaseSeconds"])
        count = try c.value("count", count)
        transferThreads = try c.value("transferThreads", transferThreads)
        retryBaseSeconds = try c.value("retryBaseSeconds", retryBaseSeconds)
        retryMaxSeconds = try c.value("retryMaxSeconds", retryMaxSeconds)
        maxAttempts = try c.value("maxAttempts", maxAttempts)
        leaseSeconds = try c.value("leaseSeconds", leaseSeconds)
    }
}

extension Configuration.ModelRoute {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.section(["provider", "model"])
        let path = configurationPath(decoder.codingPath)
        guard let provider = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "provider")),
            let model = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "model"))
        else { throw ConfigurationError("\(path): a route needs provider and model") }
        self.init(provider: provider, model: model)
    }
}

extension Configuration.Media {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["directory", "maxBytes", "imageTTLSeconds", "maxImageUploadsPerRequest", "store"])
        directory = try c.value("directory", directory)
        store = try c.value("store", store)
        maxBytes = try c.value("maxBytes", maxBytes)
        imageTTLSeconds = try c.value("imageTTLSeconds", imageTTLSeconds)
        maxImageUploadsPerRequest = try c.value("maxImageUploadsPerRequest", maxImageUploadsPerRequest)
    }
}

extension Configuration.Server {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(
            ["maxConnections", "maxConnectionsPerClient", "headTimeoutSeconds", "idleTimeoutSeconds", "bodyTimeoutSeconds",
             "bodyDeadlineSeconds", "minBodyBytesPerSecond", "maxBodyBytes", "unauthenticatedBodyBytes", "maxBufferedBodyBytes",
             "maxTasksPerRequest", "maxInlineResponseBytes", "maxStoredRequestBytes", "shutdownGraceSeconds", "websocket",
             "consoleSessionSeconds"])
        maxConnections = try c.value("maxConnections", maxConnections)
        maxConnectionsPerClient = try c.value("maxConnectionsPerClient", maxConnectionsPerClient)
        headTimeoutSeconds = try c.value("headTimeoutSeconds", headTimeoutSeconds)
        idleTimeoutSeconds = try c.value("idleTimeoutSeconds", idleTimeoutSeconds)
        bodyTimeoutSeconds = try c.value("bodyTimeoutSeconds", bodyTimeoutSeconds)
        bodyDeadlineSeconds = try c.value("bodyDeadlineSeconds", bodyDeadlineSeconds)
        minBodyBytesPerSecond = try c.value("minBodyBytesPerSecond", minBodyBytesPerSecond)
        maxBodyBytes = try c.value("maxBodyBytes", maxBodyBytes)
        unauthenticatedBodyBytes = try c.value("unauthenticatedBodyBytes", unauthenticatedBodyBytes)
        maxBufferedBodyBytes = try c.value("maxBufferedBodyBytes", maxBufferedBodyBytes)
        maxTasksPerRequest = try c.value("maxTasksPerRequest", maxTasksPerRequest)
        maxInlineResponseBytes = try c.value("maxInlineResponseBytes", maxInlineResponseBytes)
        maxStoredRequestBytes = try c.value("maxStoredRequestBytes", maxStoredRequestBytes)
        shutdownGraceSeconds = try c.value("shutdownGraceSeconds", shutdownGraceSeconds)
        websocket = try c.value("websocket", websocket)
        consoleSessionSeconds = try c.value("consoleSessionSeconds", consoleSessionSeconds)
    }
}

extension Configuration.Server.WebSocket {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["maxMessageBytes", "sessionTTLSeconds", "idleTimeoutSeconds"])
        maxMessageBytes = try c.value("maxMessageBytes", maxMessageBytes)
        sessionTTLSeconds = try c.value("sessionTTLSeconds", sessionTTLSeconds)
        idleTimeoutSeconds = try c.value("idleTimeoutSeconds", idleTimeoutSeconds)
    }
}

extension Configuration.Database {
    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.section(["url", "poolSize"])
        url = try c.value("url", url)
        poolSize = try c.value("poolSize", poolSize)
    }
}
