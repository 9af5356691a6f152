import Foundation

/// Builds the effective configuration from a file's bytes and the environment, and validates it.
/// Pure: the caller reads the file and passes the environment, so every rule is unit-testable.
public enum ConfigurationLoader {
    /// The environment variables that override file keys (SPEC §11), the providers' included.
    public static func environmentKeys(providers: [any ProviderSettings.Type]) -> [String] {
        ["REELGATE_LISTEN", "REELGATE_DATA_DIR", "REELGATE_MEDIA_DIR", "REELGATE_PUBLIC_URL", "REELGATE_ALLOW_HTTP", "REELGATE_ALLOW_HOSTS",
         "REELGATE_S3_ENDPOINT", "REELGATE_S3_REGION", "REELGATE_S3_BUCKET", "REELGATE_S3_PREFIX", "REELGATE_S3_PATH_STYLE"]
            + SecretField.core.compactMap(\.environment)
            + providers.flatMap { $0.secretFields.compactMap(\.environment) + $0.environmentNames }
    }

    /// The key the example config ships with; refused beyond loopback.
    public static let exampleKey = "reelgate-dev-key-change-me"

    /// `providers` is the catalog of provider sections (the gateway's provider registry): the
    /// keys `providers` may have, with their defaults, secrets and rules.
    public static func load(file: Data?, environment: [String: String], providers: [any ProviderSettings.Type]) throws -> Configuration {
        var config = Configuration()
        if let file, !file.isEmpty {
            do {
                let decoder = JSONDecoder()
                decoder.userInfo[Configuration.Providers.catalogKey] = providers
                config = try decoder.decode(Configuration.self, from: file)
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
        for type in providers { type.fillDefault(in: &config.providers) }
        try applyEnvironment(environment, to: &config, providers: providers)
        try validate(config)
        return config
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func applyEnvironment(_ env: [String: String], to config: inout Configuration, providers: [any ProviderSettings.Type]) throws {
        if let v = env["REELGATE_LISTEN"] { config.listen = v }
        if let v = env["REELGATE_DATA_DIR"] { config.dataDir = v }
        if let v = env["REELGATE_MEDIA_DIR"] { config.media.directory = v }
        if let v = env["REELGATE_PUBLIC_URL"] { config.publicURL = v }
        if let v = env["REELGATE_ALLOW_HTTP"] { config.network.allowHTTP = ["1", "true", "yes"].contains(v.lowercased()) }
        if let v = env["REELGATE_ALLOW_HOSTS"] {
            config.network.allowHosts = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        try applyObjectStoreEnvironment(env, to: &config)
        for type in providers { type.applyEnvironment(env, to: &config.providers) }
        try SecretField.applyEnvironment(env, to: &config, providers: providers)
    }

    /// `REELGATE_S3_*`: setting the bucket selects the s3 store (with the endpoint, which it needs);
    /// the others change an s3 store's fields. The credentials are secrets (``SecretField``).
    static func applyObjectStoreEnvironment(_ env: [String: String], to config: inout Configuration) throws {
        if let bucket = env["REELGATE_S3_BUCKET"] {
            var settings = config.media.store.objectStore ?? ObjectStoreSettings(endpoint: env["REELGATE_S3_ENDPOINT"] ?? "", bucket: bucket)
            settings.bucket = bucket
            config.media.store = .s3(settings)
        }
        guard case .s3(var settings) = config.media.store else { return }
        if let v = env["REELGATE_S3_ENDPOINT"] { settings.endpoint = v }
        if let v = env["REELGATE_S3_REGION"] { settings.region = v }
        if let v = env["REELGATE_S3_PREFIX"] { settings.prefix = v }
        if let v = env["REELGATE_S3_PATH_STYLE"] { settings.pathStyle = ["1", "true", "yes"].contains(v.lowercased()) }
        config.media.store = .s3(settings)
    }

    /// `name:key:role,…`; the key may itself contain colons (name is before the first, role after
    /// the last). Errors name the entry by position and never echo its text: a key in the wrong
    /// place must not end up in a log.
    static func parseKeys(_ text: String) throws -> [Configuration.APIKey] {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try entries.enumerated().map { index, entry in
            guard let first = entry.firstIndex(of: ":"), let last = entry.lastIndex(of: ":"), first < last else {
                throw ConfigurationError("REELGATE_API_KEYS entry \(index + 1) must be name:key:role")
            }
            let name = String(entry[..<first])
            let key = String(entry[entry.index(after: first)..<last])
            guard let role = Configuration.Role(rawValue: String(entry[entry.index(after: last)...])) else {
                throw ConfigurationError("REELGATE_API_KEYS entry \(index + 1): the role (after the last colon) must be client or ops")
            }
            return Configuration.APIKey(name: name, key: key, role: role)
        }
    }

    public static func validate(_ config: Configuration) throws {
        let address = try ListenAddress(parsing: config.listen)
        var names = Set<String>(), keys = Set<String>()
        // Keys are named by position: a name can be a key pasted into the wrong field.
        for (index, key) in config.apiKeys.enumerated() {
            let at = "apiKeys[\(index)]"
            guard !key.name.isEmpty else { throw ConfigurationError("\(at): the name is empty") }
            guard key.key.count >= 16 else { throw ConfigurationError("\(at): key must be at least 16 characters") }
            guard names.insert(key.name).inserted else { throw ConfigurationError("\(at): the same name is used by an earlier key") }
            guard keys.insert(key.key).inserted else { throw ConfigurationError("\(at): the same key is configured twice") }
            if let rate = key.tasksPerMinute, rate < 1 { throw ConfigurationError("\(at).tasksPerMinute must be at least 1") }
            if let cap = key.maxInFlight, cap < 1 { throw ConfigurationError("\(at).maxInFlight must be at least 1") }
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
        if let secret = config.webhooks.secret {
            guard let key = WebhookSecret.keyBytes(secret), key.count >= WebhookSecret.minimumBytes else {
                throw ConfigurationError(
                    "webhooks.secret: a whsec_ secret must be base64 of at least \(WebhookSecret.minimumBytes) random bytes "
                        + "(and a plain one at least \(WebhookSecret.minimumBytes) bytes long)")
            }
        }
        if let proxy = config.network.egressProxy {
            let lower = proxy.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw ConfigurationError("network.egressProxy must be an http:// or https:// URL")
            }
        }
        guard config.webhooks.retrySchedule.allSatisfy({ $0 >= 0 }), config.webhooks.retrySchedule.count <= 20 else {
            throw ConfigurationError("webhooks.retrySchedule: up to 20 non-negative delays in seconds")
        }
        let positive: [(String, Double)] = [
            ("webhooks.timeoutSeconds", config.webhooks.timeoutSeconds),
            ("webhooks.uploadTimeoutSeconds", config.webhooks.uploadTimeoutSeconds),
            ("webhooks.uploadMinBytesPerSecond", Double(config.webhooks.uploadMinBytesPerSecond)),
            ("server.headTimeoutSeconds", config.server.headTimeoutSeconds),
            ("server.idleTimeoutSeconds", config.server.idleTimeoutSeconds),
            ("server.bodyTimeoutSeconds", config.server.bodyTimeoutSeconds),
            ("server.bodyDeadlineSeconds", config.server.bodyDeadlineSeconds),
            ("media.imageTTLSeconds", config.media.imageTTLSeconds),
            ("workers.leaseSeconds", config.workers.leaseSeconds),
            ("server.websocket.sessionTTLSeconds", config.server.websocket.sessionTTLSeconds),
            ("server.websocket.idleTimeoutSeconds", config.server.websocket.idleTimeoutSeconds),
            ("server.consoleSessionSeconds", config.server.consoleSessionSeconds),
        ]
        for (name, value) in positive where !(value > 0) { throw ConfigurationError("\(name) must be positive") }
        let atLeastOne: [(String, Int)] = [
            ("webhooks.concurrency", config.webhooks.concurrency),
            ("webhooks.maxConcurrentPerKey", config.webhooks.maxConcurrentPerKey),
            ("webhooks.maxConcurrentPerHost", config.webhooks.maxConcurrentPerHost),
            ("webhooks.redeliveriesPerKeyPerMinute", config.webhooks.redeliveriesPerKeyPerMinute),
            ("server.maxConnections", config.server.maxConnections),
            ("server.maxConnectionsPerClient", config.server.effectiveMaxConnectionsPerClient),
            ("server.maxBodyBytes", config.server.maxBodyBytes),
            ("server.unauthenticatedBodyBytes", config.server.unauthenticatedBodyBytes),
            ("server.maxBufferedBodyBytes", config.server.maxBufferedBodyBytes),
            ("server.maxTasksPerRequest", config.server.maxTasksPerRequest),
            ("server.maxStoredRequestBytes", config.server.maxStoredRequestBytes),
            ("server.websocket.maxMessageBytes", config.server.effectiveMaxMessageBytes),
            ("media.maxImageUploadsPerRequest", config.media.maxImageUploadsPerRequest),
        ]
        for (name, value) in atLeastOne where value < 1 { throw ConfigurationError("\(name) must be at least 1") }
        guard config.server.consoleSessionSeconds <= 30 * 86400 else { throw ConfigurationError("server.consoleSessionSeconds must be at most 2592000 (30 days)") }
        guard config.webhooks.redeliveryIntervalSeconds >= 0 else { throw ConfigurationError("webhooks.redeliveryIntervalSeconds must not be negative") }
        guard config.webhooks.concurrency <= 256 else { throw ConfigurationError("webhooks.concurrency must be 1…256") }
        guard config.server.minBodyBytesPerSecond >= 0 else { throw ConfigurationError("server.minBodyBytesPerSecond must not be negative") }
        guard config.server.maxInlineResponseBytes >= 0 else { throw ConfigurationError("server.maxInlineResponseBytes must not be negative") }
        guard config.server.maxBufferedBodyBytes >= config.server.unauthenticatedBodyBytes else {
            throw ConfigurationError("server.maxBufferedBodyBytes must be at least server.unauthenticatedBodyBytes")
        }
        guard (1...200).contains(config.database.poolSize) else { throw ConfigurationError("database.poolSize must be 1…200") }
        if let url = config.database.url {
            let lower = url.lowercased()
            guard lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") || lower.contains("host=") || lower.contains("dbname=") else {
                throw ConfigurationError("database.url must be a PostgreSQL address (postgres://…, postgresql://… or libpq key=value)")
            }
        }
        guard config.workers.count >= 1, config.workers.count <= 100_000 else { throw ConfigurationError("workers.count must be 1…100000") }
        guard config.workers.transferThreads >= 1, config.workers.transferThreads <= 256 else {
            throw ConfigurationError("workers.transferThreads must be 1…256")
        }
        guard config.media.maxBytes > 0 else { throw ConfigurationError("media.maxBytes must be positive") }
        if let store = config.media.store.objectStore {
            guard !store.endpoint.isEmpty else { throw ConfigurationError("media.store.endpoint is required for an s3 store (or REELGATE_S3_ENDPOINT)") }
            guard store.partBytes >= ObjectStoreSettings.minimumPartBytes else {
                throw ConfigurationError("media.store.partBytes must be at least 5 MiB (S3's smallest part)")
            }
        }
        if let url = config.publicURL, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ConfigurationError("publicURL must start with http:// or https://")
        }
        for (model, routes) in config.models where routes.isEmpty {
            throw ConfigurationError("models.\(model): at least one route is needed")
        }
        let providerNames = Set(config.providers.all.map { type(of: $0).configKey })
        for section in config.providers.all { try section.validate(providerNames: providerNames) }
    }

    /// The configuration as JSON with every secret replaced, for `check-config` and the startup log.
    public static func maskedJSON(_ config: Configuration) -> String {
        let masked = SecretField.rewriting(config, mask)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(masked)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func mask(_ secret: String) -> String { "****(\(secret.count) chars)" }

    /// Every secret in the configuration, so logs can be scrubbed of them.
    public static func secrets(_ config: Configuration) -> [String] { SecretField.values(in: config) }
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
        // An IP literal or `localhost`: a name would be resolved at bind time, and could resolve
        // anywhere (`127.attacker.example` is not loopback).
        guard hostPart == "localhost" || IPAddress(literal: String(hostPart)) != nil else {
            throw ConfigurationError("listen: the host must be an IP address or localhost, got \(hostPart)")
        }
        host = String(hostPart)
        self.port = port
    }

    public var isLoopback: Bool {
        if host == "localhost" { return true }
        switch IPAddress(literal: host) {
        case .v4(let a)?: return a >> 24 == 127
        case .v6(let b)?:
            // ::1, or 127/8 written IPv4-mapped (::ffff:127.x.y.z); no other embedding form.
            let mapped = b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xFF && b[11] == 0xFF
            return .v6(b) == IPAddress(literal: "::1") || (mapped && b[12] == 127)
        case nil: return false
        }
    }

    /// How to write the address in a URL.
    public static func urlHost(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}
