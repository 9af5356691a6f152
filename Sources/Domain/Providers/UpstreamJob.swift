/// A task's work upstream, as the adapter that started it describes it: one part per job it
/// started (one per requested result, or one for all), each with its id and, where the upstream
/// hands them out, the URLs it is polled, fetched and cancelled at.
///
/// The store keeps it as ``stored`` (JSON), written once when the upstream accepts, so a restart
/// polls the same jobs instead of paying for new ones. Handles stored by earlier versions (a
/// comma list of ids; fal's lines of "status result cancel" URLs) still read.
public struct UpstreamJob: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        public var id: String
        public var statusURL: String?
        public var resultURL: String?
        public var cancelURL: String?

        public init(id: String, statusURL: String? = nil, resultURL: String? = nil, cancelURL: String? = nil) {
            self.id = id
            self.statusURL = statusURL
            self.resultURL = resultURL
            self.cancelURL = cancelURL
        }
    }

    public var parts: [Part]

    public init(parts: [Part]) { self.parts = parts }
    public init(ids: [String]) { parts = ids.map { Part(id: $0) } }

    public var ids: [String] { parts.map(\.id) }

    /// What ops see as `upstreamId`: the job ids, comma-separated.
    public var displayID: String { ids.joined(separator: ",") }

    /// The stored form: `{"jobs":[{"id":…,"status":…,"result":…,"cancel":…}]}`.
    public var stored: String {
        JSONValue.object(["jobs": .array(parts.map { part in
            var o: [String: JSONValue] = ["id": .string(part.id)]
            if let v = part.statusURL { o["status"] = .string(v) }
            if let v = part.resultURL { o["result"] = .string(v) }
            if let v = part.cancelURL { o["cancel"] = .string(v) }
            return .object(o)
        })]).serialized()
    }

    /// Reads a stored handle; nil when it has no job in it.
    public init?(stored: String) {
        if stored.hasPrefix("{") {
            guard let jobs = (try? JSONParser.parse(stored))?["jobs"]?.array else { return nil }
            parts = jobs.compactMap { job in
                job["id"]?.string.map { Part(id: $0, statusURL: job["status"]?.string, resultURL: job["result"]?.string, cancelURL: job["cancel"]?.string) }
            }
        } else if stored.split(separator: "\n").allSatisfy({ $0.split(separator: " ").first?.contains("://") == true }) {
            // fal before typed handles: "status result cancel" URLs per line (an id list never
            // starts its lines with URLs; a task-API id may contain a space).
            parts = stored.split(separator: "\n").compactMap { line in
                let urls = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                guard urls.count >= 2 else { return nil }
                return Part(id: urls[0], statusURL: urls[0], resultURL: urls[1], cancelURL: urls.count > 2 && !urls[2].isEmpty ? urls[2] : nil)
            }
        } else {
            parts = stored.split(separator: ",").map { Part(id: String($0)) }
        }
        if parts.isEmpty { return nil }
    }
}
