import CPostgres
import Foundation
import Glibc

/// One libpq connection.
///
/// Concurrency: not thread-safe; one thread at a time, which the pool that owns it guarantees
/// (as SQLite's ``Database``). Every statement is parameterised (`$1`, `$2`, … bound as text by
/// libpq, never spliced into SQL), and a statement run by name is prepared once per connection.
public final class PostgresConnection {
    private var handle: OpaquePointer?
    public let url: PostgresURL
    private var prepared: Set<String> = []

    /// Connects (blocking). The error never carries the password.
    public init(_ url: PostgresURL) throws(PostgresError) {
        self.url = url
        // Defaults first, so that the address's own settings win: a silent network drop must end
        // in an error within seconds, not hang every statement for the kernel's 15 minutes.
        let defaults: [(String, String)] = [
            ("connect_timeout", "5"), ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"),
            ("keepalives_count", "3"), ("tcp_user_timeout", "15000"), ("dbname", url.conninfo),
        ]
        let keywords = defaults.map { strdup($0.0) }, values = defaults.map { strdup($0.1) }
        defer { for pointer in keywords + values { free(pointer) } }
        let connection = (keywords.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { k in
            (values.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { v in PQconnectdbParams(k.baseAddress, v.baseAddress, 1) }
        }
        guard let connection else { throw PostgresError(.connection, message: "out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.scrub(String(cString: PQerrorMessage(connection)), url)
            PQfinish(connection)
            throw PostgresError(.connection, message: message)
        }
        handle = connection
    }

    deinit { close() }

    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Whether the connection is still usable (a broken one must be replaced).
    public var isHealthy: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Whether an idle connection is still usable, checked without a round trip. A connection
    /// that listens for nothing has nothing to read between statements, so a readable socket means
    /// the server is closing it (a restart, a killed backend: its farewell `FATAL` and EOF) or the
    /// network cut it. Not for a connection that `LISTEN`s (notifications make it readable).
    public var isAlive: Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        var poll = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&poll, 1, 0) == 0
    }

    /// The socket, for waiting on notifications.
    public var socket: Int32 { handle.map { PQsocket($0) } ?? -1 }

    /// Runs `sql` with `parameters` bound to `$1…` (nil is NULL).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresResult {
        let connection = try live()
        let result = Self.withCStrings(parameters) { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs several `;`-separated statements without parameters (a migration): the simple
    /// query protocol, which takes more than one statement.
    public func executeScript(_ sql: String) throws(PostgresError) {
        let connection = try live()
        _ = try consume(PQexec(connection, sql))
    }

    /// Runs the statement `sql`, prepared under `name` the first time this connection runs it.
    @discardableResult
    public func execute(prepared name: String, _ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresResult {
        let connection = try live()
        if !prepared.contains(name) {
            _ = try consume(PQprepare(connection, name, sql, Int32(parameters.count), nil))
            prepared.insert(name)
        }
        let result = Self.withCStrings(parameters) { values in
            PQexecPrepared(connection, name, Int32(parameters.count), values, nil, nil, 0)
        }
        do {
            return try consume(result)
        } catch where error.sqlState == "0A000" && PQtransactionStatus(connection) == PQTRANS_IDLE {
            // "cached plan must not change result type": the schema changed under a prepared
            // statement (a newer instance migrated). Prepared again, once.
            _ = try? execute("DEALLOCATE \"\(name)\"")
            prepared.remove(name)
            return try execute(prepared: name, sql, parameters)
        }
    }

    /// Whether the connection sits outside any transaction (what a pool takes back).
    public var isIdle: Bool { handle.map { PQtransactionStatus($0) == PQTRANS_IDLE } ?? false }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws(PostgresError) -> T) throws(PostgresError) -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// Notifications received so far (after `LISTEN channel`), without waiting.
    public func notifications() throws(PostgresError) -> [(channel: String, payload: String)] {
        let connection = try live()
        guard PQconsumeInput(connection) == 1 else {
            throw PostgresError(.connection, message: Self.scrub(String(cString: PQerrorMessage(connection)), url))
        }
        var received: [(String, String)] = []
        while let notify = PQnotifies(connection) {
            received.append((String(cString: notify.pointee.relname), String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }

    private func live() throws(PostgresError) -> OpaquePointer {
        guard let handle else { throw PostgresError(.connection, message: "the connection is closed") }
        return handle
    }

    /// Checks and copies a result, then frees it.
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresResult {
        guard let result else {
            throw PostgresError(.connection, message: Self.scrub(String(cString: PQerrorMessage(try live())), url))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return PostgresResult(result)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = Self.scrub(String(cString: PQresultErrorMessage(result)), url)
            let lost = handle.map { PQstatus($0) != CONNECTION_OK } ?? true
            throw PostgresError(lost ? .connection : .statement, sqlState: state, message: message)
        }
    }

    /// libpq's text with the password masked, should it ever echo it.
    static func scrub(_ message: String, _ url: PostgresURL) -> String {
        var text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        for secret in url.secretPieces where secret.count >= 3 { text = text.replacingOccurrences(of: secret, with: "***") }
        return text
    }

    private static func withCStrings<R>(_ values: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let pointers: [UnsafeMutablePointer<CChar>?] = values.map { $0.map { strdup($0) } ?? nil }
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers.map { $0.map { UnsafePointer($0) } })
    }
}

