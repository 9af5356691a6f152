/// A failed libpq call: what failed, PostgreSQL's SQLSTATE when the server gave one, and its
/// message, with the password scrubbed from anything libpq may have echoed.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made, or was lost: retry with backoff.
        case connection
        /// The server refused the statement (see ``sqlState``).
        case statement
        /// A row did not hold what the caller read from it.
        case decoding
    }

    public let kind: Kind
    /// The five-character SQLSTATE (`23505` unique violation, `40001` serialization failure…).
    public let sqlState: String?
    public let message: String

    public init(_ kind: Kind, sqlState: String? = nil, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// A transaction that may simply be run again (serialization failure, deadlock).
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" || kind == .connection }

    public var description: String {
        "PostgreSQL \(kind)" + (sqlState.map { " \($0)" } ?? "") + ": \(message)"
    }
}
