/// One error in the Runware error shape (SPEC §2, runware.md §2.2).
///
/// Its HTTP status is its code's (``APIErrorCode``), so a reply answers "the status of the first
/// error" without deciding anything itself.
public struct APIErrorItem: Error, Sendable, Equatable {
    public enum Parameter: Sendable, Equatable {
        case one(String)
        case many([String])
    }

    public var code: APIErrorCode
    public var message: String
    public var parameter: Parameter?
    public var taskType: String?
    public var taskUUID: String?
    public var allowedValues: [JSONValue]?

    public init(
        code: APIErrorCode, message: String, parameter: Parameter? = nil, taskType: String? = nil, taskUUID: String? = nil,
        allowedValues: [JSONValue]? = nil
    ) {
        self.code = code
        self.message = message
        self.parameter = parameter
        self.taskType = taskType
        self.taskUUID = taskUUID
        self.allowedValues = allowedValues
    }

    public static func invalid(_ parameter: String, _ message: String, code: APIErrorCode? = nil, allowed: [JSONValue]? = nil) -> APIErrorItem {
        APIErrorItem(code: code ?? .invalid(parameter), message: message, parameter: .one(parameter), allowedValues: allowed)
    }

    /// Client text quoted in an error, cut to 64 characters: an error must never be a way to
    /// make the server send back (and build in memory) whatever a client sent.
    public static func echo(_ text: some StringProtocol) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > 64 else { return String(text) }
        var cut = String.UnicodeScalarView()
        cut.append(contentsOf: scalars.prefix(64))
        return String(cut) + "…"
    }

    /// The HTTP status for this error's code.
    public var status: Int { code.status }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["code": .string(code.name), "message": .string(message)]
        switch parameter {
        case .one(let p): o["parameter"] = .string(p)
        case .many(let ps): o["parameter"] = .array(ps.map { .string($0) })
        case nil: break
        }
        if let taskType { o["taskType"] = .string(taskType) }
        if let taskUUID { o["taskUUID"] = .string(taskUUID) }
        if let allowedValues { o["allowedValues"] = .array(allowedValues) }
        return .object(o)
    }

    /// The same error stamped with the task it belongs to (client text, so quoted short: the
    /// task may have been refused for that very field).
    public func on(taskType: String?, taskUUID: String?) -> APIErrorItem {
        var copy = self
        copy.taskType = copy.taskType ?? taskType.map(APIErrorItem.echo)
        copy.taskUUID = copy.taskUUID ?? taskUUID.map(APIErrorItem.echo)
        return copy
    }
}
