import Postgres
import Store

/// A PostgreSQL row as the records read it.
struct PostgresColumns: RecordColumns {
    let row: PostgresRow
    func text(_ column: String) throws -> String? { try row.string(column) }
    func real(_ column: String) throws -> Double? { try row.double(column) }
    func integer(_ column: String) throws -> Int64? { try row.int(column) }
}
