import Domain

/// `providers.taskapi`: a list of generic create-then-query providers, each named for use in
/// `models` routes.
public struct TaskAPISettings: ProviderSettings {
    public static let configKey = "taskapi"
    public static let secretFields = [
        SecretField(
            path: "providers.taskapi[].apiKey", environment: nil,
            values: { $0.providers.taskapi.compactMap(\.apiKey) },
            rewrite: { config, change in
                for i in config.providers.taskapi.indices { config.providers.taskapi[i].apiKey = config.providers.taskapi[i].apiKey.map(change) }
            },
            assign: nil),
    ]

    public var entries: [Entry] = []
    public init() {}

    /// A task-style provider: create returns an id, query returns status, progress and result
    /// URLs. Everything not given falls back to the built-in `gemini-omni-flash-image-to-video`
    /// profile (taskapi.md). Field names are dotted paths into the JSON.
    public struct Entry: Sendable, Equatable, Codable {
        public var name: String
        public var baseURL: String
        public var apiKey: String?
        public var createPath: String?
        public var queryPath: String?
        public var authHeader: String?
        public var authPrefix: String?
        public var promptField: String?
        public var imagesField: String?
        public var durationField: String?
        public var aspectRatioField: String?
        public var idField: String?
        public var statusField: String?
        public var progressField: String?
        public var resultsField: String?
        public var errorMessageField: String?
        public var limits = Configuration.ProviderLimits(maxConcurrent: 8, requestsPerMinute: 300)
        public var pollIntervalSeconds: Double?
        public init(name: String, baseURL: String) {
            self.name = name
            self.baseURL = baseURL
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.section(
                ["name", "baseURL", "apiKey", "createPath", "queryPath", "authHeader", "authPrefix", "promptField", "imagesField",
                 "durationField", "aspectRatioField", "idField", "statusField", "progressField", "resultsField", "errorMessageField",
                 "limits", "pollIntervalSeconds"])
            let path = configurationPath(decoder.codingPath)
            guard let name = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "name")) else {
                throw ConfigurationError("configuration key \(path).name is required")
            }
            guard let baseURL = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "baseURL")) else {
                throw ConfigurationError("configuration key \(path).baseURL is required")
            }
            self.init(name: name, baseURL: baseURL)
            apiKey = try c.value("apiKey", nil)
            createPath = try c.value("createPath", nil)
            queryPath = try c.value("queryPath", nil)
            authHeader = try c.value("authHeader", nil)
            authPrefix = try c.value("authPrefix", nil)
            promptField = try c.value("promptField", nil)
            imagesField = try c.value("imagesField", nil)
            durationField = try c.value("durationField", nil)
            aspectRatioField = try c.value("aspectRatioField", nil)
            idField = try c.value("idField", nil)
            statusField = try c.value("statusField", nil)
            progressField = try c.value("progressField", nil)
            resultsField = try c.value("resultsField", nil)
            errorMessageField = try c.value("errorMessageField", nil)
            limits = try c.limits(limits)
            pollIntervalSeconds = try c.value("pollIntervalSeconds", nil)
        }
    }

    /// The section is the list itself.
    public init(from decoder: any Decoder) throws {
        entries = try decoder.singleValueContainer().decode([Entry].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(entries)
    }

    public func validate(providerNames: Set<String>) throws {
        var names = providerNames
        for (index, entry) in entries.enumerated() {
            guard !entry.name.isEmpty, names.insert(entry.name).inserted else {
                throw ConfigurationError("providers.taskapi[\(index)].name must be non-empty and differ from every other provider's")
            }
        }
    }
}

extension Configuration.Providers {
    public var taskapi: [TaskAPISettings.Entry] {
        get { self[TaskAPISettings.self].entries }
        set { self[TaskAPISettings.self].entries = newValue }
    }
}
