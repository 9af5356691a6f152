import Foundation

/// Builds the effective configuration from a file's bytes and the environment, and validates it.
/// Pure: the caller reads the file and passes the environment, so every rule is unit-testable.
public enum ConfigurationLoader {
    /// The environment variables that override file keys (SPEC §11).
    public static let environmentKeys = [
        "REELGATE_LISTEN", "REELGATE_DATA_DIR", "REELGATE_PUBLIC_URL", "REELGATE_API_KEYS", "REELGATE_WEBHOOK_SECRET",
        "REELGATE_ALLOW_HTTP", "REELGATE_ALLOW_HOSTS", "GEMINI_API_KEY", "GEMINI_BASE_URL", "FAL_KEY", "FAL_BASE_URL",
        "RUNWARE_API_KEY", "RUNWARE_BASE_URL",
    ]

    /// The key the example config ships with; refused beyond loopback.
    public static let exampleKey = "reelgate-dev-key-change-me"

    public static func load(file: Data?, environment: [String: String]) throws -> Configuration {
        var config = Configuration()
        if let file, !file.isEmpty {
            do {
                config = try JSONDecoder().decode(Configuration.self, from: file)
            } catch let error as ConfigurationError {
                throw error
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
                throw ConfigurationError("configuration key \(path(context.codingPath)): \(context.debugDescription)")
            } catch let DecodingError.keyNotFound(key, context) {
                throw ConfigurationError("configuration key \(path(context.codingPath + [key])) is required")
            } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
                throw ConfigurationError("configuration key \(path(context.codingPath)): \(context.debugDescription)")
            } catch let DecodingError.dataCorrupted(context) {
                throw ConfigurationError("configuration file is not valid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)")
            }
        }
        try applyEnvironment(environment, to: &config)
        try validate(config)
        return config
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func applyEnvironment(_ env: [String: String], to config: inout Configuration) throws {
        if let v = env["REELGATE_LISTEN"] { config.listen = v }
        if let v = env["REELGATE_DATA_DIR"] { config.dataDir = v }
        if let v = env["REELGATE_PUBLIC_URL"] { config.publicURL = v }
        if let v = env["REELGATE_API_KEYS"] { config.apiKeys = try parseKeys(v) }
        if let v = env["REELGATE_WEBHOOK_SECRET"] { config.webhooks.secret = v }
        if let v = env["REELGATE_ALLOW_HTTP"] { config.network.allowHTTP = ["1", "true", "yes"].contains(v.lowercased()) }
        if let v = env["REELGATE_ALLOW_HOSTS"] {
            config.network.allowHosts = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let v = env["GEMINI_API_KEY"] { config.providers.gemini.apiKey = v }
        if let v = env["GEMINI_BASE_URL"] { config.providers.gemini.baseURL = v }
        if let v = env["FAL_KEY"] { config.providers.fal.key = v }
        if let v = env["FAL_BASE_URL"] { config.providers.fal.baseURL = v }
        if let v = env["RUNWARE_API_KEY"] { config.providers.runware.apiKey = v }
        if let v = env["RUNWARE_BASE_URL"] { config.providers.runware.baseURL = v }
    }

    /// `name:key:role,…`; the key may itself contain colons (name is before the first, role after the last).
    static func parseKeys(_ text: String) throws -> [Configuration.APIKey] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { entry in
            guard let first = entry.firstIndex(of: ":"), let last = entry.lastIndex(of: ":"), first < last else {
                throw ConfigurationError("REELGATE_API_KEYS entry must be name:key:role")
            }
            let name = String(entry[..<first])
            let key = String(entry[entry.index(after: first)..<last])
            let roleText = String(entry[entry.index(after: last)...])
            guard let role = Configuration.Role(rawValue: roleText) else {
                throw ConfigurationError("REELGATE_API_KEYS entry \(name): role must be client or ops, not \(roleText)")
            }
            return Configuration.APIKey(name: name, key: key, role: role)
        }
    }

    public static func validate(_ config: Configuration) throws {
        let address = try ListenAddress(parsing: config.listen)
        var names = Set<String>(), keys = Set<String>()
        for key in config.apiKeys {
            guard !key.name.isEmpty else { throw ConfigurationError("apiKeys: a key has an empty name") }
            guard key.key.count >= 16 else { throw ConfigurationError("apiKeys.\(key.name): key must be at least 16 characters") }
            guard names.insert(key.name).inserted else { throw ConfigurationError("apiKeys: duplicate name \(key.name)") }
            guard keys.insert(key.key).inserted else { throw ConfigurationError("apiKeys: the same key is configured twice") }
            if let rate = key.tasksPerMinute, rate < 1 { throw ConfigurationError("apiKeys.\(key.name).tasksPerMinute must be at least 1") }
            if let cap = key.maxInFlight, cap < 1 { throw ConfigurationError("apiKeys.\(key.name).maxInFlight must be at least 1") }
        }
        if !address.isLoopback {
            guard !config.apiKeys.isEmpty else {
                throw ConfigurationError(
                    "refusing to listen on \(config.listen) without an API key: set apiKeys or REELGATE_API_KEYS, or listen on loopback")
            }
            if config.apiKeys.contains(where: { $0.key == exampleKey }) {
                throw ConfigurationError("refusing to listen on \(config.listen) with the example API key; set a real one")
            }
        }
        guard config.webhooks.retrySchedule.allSatisfy({ $0 >= 0 }), config.webhooks.retrySchedule.count <= 20 else {
            throw ConfigurationError("webhooks.retrySchedule: up to 20 non-negative delays in seconds")
        }
        guard config.webhooks.timeoutSeconds > 0 else { throw ConfigurationError("webhooks.timeoutSeconds must be positive") }
        guard config.workers.count >= 1, config.workers.count <= 100_000 else { throw ConfigurationError("workers.count must be 1…100000") }
        guard config.workers.transferThreads >= 1, config.workers.transferThreads <= 256 else {
            throw ConfigurationError("workers.transferThreads must be 1…256")
        }
        guard (0...1).contains(config.providers.simulator.failureRate) else {
            throw ConfigurationError("providers.simulator.failureRate must be between 0 and 1")
        }
        guard config.media.maxBytes > 0 else { throw ConfigurationError("media.maxBytes must be positive") }
        guard config.server.maxConnections >= 1 else { throw ConfigurationError("server.maxConnections must be at least 1") }
        if let url = config.publicURL, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ConfigurationError("publicURL must start with http:// or https://")
        }
        for (model, routes) in config.models where routes.isEmpty {
            throw ConfigurationError("models.\(model): at least one route is needed")
        }
    }

    /// The configuration as JSON with every secret replaced, for `check-config` and the startup log.
    public static func maskedJSON(_ config: Configuration) -> String {
        var masked = config
        masked.apiKeys = config.apiKeys.map {
            Configuration.APIKey(name: $0.name, key: mask($0.key), role: $0.role, tasksPerMinute: $0.tasksPerMinute, maxInFlight: $0.maxInFlight)
        }
        masked.webhooks.secret = config.webhooks.secret.map(mask)
        masked.providers.gemini.apiKey = config.providers.gemini.apiKey.map(mask)
        masked.providers.fal.key = config.providers.fal.key.map(mask)
        masked.providers.runware.apiKey = config.providers.runware.apiKey.map(mask)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(masked)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func mask(_ secret: String) -> String { "****(\(secret.count) chars)" }

    /// Every secret in the configuration, so logs can be scrubbed of them.
    public static func secrets(_ config: Configuration) -> [String] {
        (config.apiKeys.map(\.key)
            + [config.webhooks.secret, config.providers.gemini.apiKey, config.providers.fal.key, config.providers.runware.apiKey]
            .compactMap { $0 }).filter { !$0.isEmpty }
    }
}

/// `host:port`, `[v6]:port`; port 0 means any free port.
public struct ListenAddress: Sendable, Equatable {
    public let host: String
    public let port: Int

    public init(parsing text: String) throws {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError("listen: expected [ipv6]:port, got \(text)")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw ConfigurationError("listen: expected host:port, got \(text)") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let port = Int(portPart), (0...65535).contains(port) else {
            throw ConfigurationError("listen: port must be 0…65535, got \(portPart)")
        }
        guard !hostPart.isEmpty else { throw ConfigurationError("listen: host is empty") }
        host = String(hostPart)
        self.port = port
    }

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// How to write the address in a URL.
    public static func urlHost(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
