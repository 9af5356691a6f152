/// One upstream's section under `providers` in the configuration, declared by its adapter in the
/// adapter's own files (Gateway/Providers): its key, its fields and defaults, its secrets and the
/// environment variables that set fields, its limits and its own checks. The configuration layer
/// decodes, masks and validates whatever sections it is given (a *catalog*), so adding an upstream
/// touches its own files, its test and its README section, and nothing here.
public protocol ProviderSettings: Codable, Sendable, Equatable {
    /// Its key under `providers`.
    static var configKey: String { get }
    /// Its secret fields: masked in `check-config`, scrubbed from logs, settable from the
    /// environment. Paths read `providers.<key>.<field>` (`[]` for every element of a list).
    static var secretFields: [SecretField] { get }
    /// Environment variables that set non-secret fields (a base URL for a test double, say).
    static var environmentOverrides: [String: @Sendable (inout Self, String) -> Void] { get }
    /// The defaults, as a section absent from the file reads.
    init()
    /// Its own rules, beyond what decoding checks. `providerNames` are every provider's name
    /// (the catalog's keys), which a list of named providers must not reuse.
    func validate(providerNames: Set<String>) throws
}

extension ProviderSettings {
    public static var secretFields: [SecretField] { [] }
    public static var environmentOverrides: [String: @Sendable (inout Self, String) -> Void] { [:] }
    public func validate(providerNames: Set<String>) throws {}

    /// The environment's overrides of this section's fields.
    static func applyEnvironment(_ env: [String: String], to providers: inout Configuration.Providers) {
        var settings = providers[Self.self]
        var changed = false
        for (name, apply) in environmentOverrides {
            guard let value = env[name] else { continue }
            apply(&settings, value)
            changed = true
        }
        if changed { providers[Self.self] = settings }
    }

    /// Fills the section in with its defaults if the file had none (so `check-config` shows it).
    static func fillDefault(in providers: inout Configuration.Providers) {
        providers[Self.self] = providers[Self.self]
    }

    func isEqual(to other: any ProviderSettings) -> Bool { (other as? Self) == self }

    /// The environment variables of ``environmentOverrides``, by name.
    static var environmentNames: [String] { environmentOverrides.keys.sorted() }
}

extension Configuration {
    /// The `providers` sections, by key, each of its adapter's type.
    public struct Providers: Sendable, Equatable, Codable {
        private var sections: [String: any ProviderSettings] = [:]

        public init() {}

        /// A provider's section: the one configured, or its defaults.
        public subscript<S: ProviderSettings>(_ type: S.Type) -> S {
            get { sections[S.configKey] as? S ?? S() }
            set { sections[S.configKey] = newValue }
        }

        /// The sections present, in key order.
        public var all: [any ProviderSettings] { sections.sorted { $0.key < $1.key }.map(\.value) }

        public static func == (a: Providers, b: Providers) -> Bool {
            a.sections.count == b.sections.count && a.sections.allSatisfy { key, value in b.sections[key].map(value.isEqual) ?? false }
        }

        /// Decodes the sections the catalog in the decoder's `userInfo` knows; any other key is an
        /// error, as everywhere in the file.
        public init(from decoder: any Decoder) throws {
            let catalog = decoder.userInfo[Self.catalogKey] as? [any ProviderSettings.Type] ?? []
            let c = try decoder.section(catalog.map { $0.configKey })
            for type in catalog {
                if let section = try Self.decodeSection(type, from: c) { sections[section.key] = section.value }
            }
        }

        /// One section, if the file has it (a generic function: the catalog's types are opened here).
        private static func decodeSection<S: ProviderSettings>(_ type: S.Type, from c: KeyedDecodingContainer<AnyKey>) throws
            -> (key: String, value: any ProviderSettings)?
        {
            try c.decodeIfPresent(S.self, forKey: AnyKey(stringValue: S.configKey)).map { (S.configKey, $0) }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            for (key, section) in sections { try section.encode(to: c.superEncoder(forKey: AnyKey(stringValue: key))) }
        }

        /// Where ``ConfigurationLoader`` puts the catalog for decoding.
        static let catalogKey = CodingUserInfoKey(rawValue: "reelgate.providerCatalog")!
    }
}
