import CPostgres

/// The rows a statement returned, in text format, copied out of libpq's result (which is freed
/// at once), so a result can travel between threads.
public struct PostgresResult: Sendable {
    public let columns: [String]
    /// Row-major values; nil is SQL NULL.
    public let rows: [[String?]]
    /// Rows a `INSERT`/`UPDATE`/`DELETE` touched.
    public let affectedRows: Int

    init(_ result: OpaquePointer) {
        let columnCount = Int(PQnfields(result))
        columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        rows = (0..<Int(PQntuples(result))).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            }
        }
        affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    public var count: Int { rows.count }

    /// One row's values by column name.
    public func row(_ index: Int) -> PostgresRow { PostgresRow(columns: columns, values: rows[index]) }

    public var allRows: [PostgresRow] { rows.indices.map(row) }
}

/// One row, read by column name with the type the caller expects.
public struct PostgresRow: Sendable {
    let columns: [String]
    let values: [String?]

    public func string(_ column: String) throws(PostgresError) -> String? {
        guard let index = columns.firstIndex(of: column) else { throw PostgresError(.decoding, message: "no column \(column)") }
        return values[index]
    }

    public func int(_ column: String) throws(PostgresError) -> Int64? {
        guard let text = try string(column) else { return nil }
        guard let value = Int64(text) else { throw PostgresError(.decoding, message: "column \(column) is not an integer") }
        return value
    }

    public func double(_ column: String) throws(PostgresError) -> Double? {
        guard let text = try string(column) else { return nil }
        guard let value = Double(text) else { throw PostgresError(.decoding, message: "column \(column) is not a number") }
        return value
    }

    public func bool(_ column: String) throws(PostgresError) -> Bool? {
        guard let text = try string(column) else { return nil }
        switch text {
        case "t": return true
        case "f": return false
        default: throw PostgresError(.decoding, message: "column \(column) is not a boolean")
        }
    }
}
