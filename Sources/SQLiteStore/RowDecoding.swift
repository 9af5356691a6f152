import Domain
import SQLite
import Store

/// A column holding one of the code's enums: a value the code does not know is an error
/// (``StoreError/undecodable(table:column:value:)``), never a guess such as `failed`.
func decode<Value: RawRepresentable>(_ row: Row, _ column: String, table: String) throws -> Value where Value.RawValue == String {
    let raw = row[column].string ?? ""
    guard let value = Value(rawValue: raw) else { throw StoreError.undecodable(table: table, column: column, value: raw) }
    return value
}

/// A column that must hold text.
func text(_ row: Row, _ column: String, table: String) throws -> String {
    guard let value = row[column].string else { throw StoreError.undecodable(table: table, column: column, value: "\(row[column])") }
    return value
}

/// A SQLite row as the records read it.
struct SQLiteColumns: RecordColumns {
    let row: Row
    func text(_ column: String) -> String? { row[column].string }
    func real(_ column: String) -> Double? { row[column].double }
    func integer(_ column: String) -> Int64? { row[column].int64 }
}

extension TaskRecord {
    init(row: Row) throws { try self.init(columns: SQLiteColumns(row: row)) }
}

extension ResultRecord {
    init(row: Row) throws { try self.init(columns: SQLiteColumns(row: row)) }
}

extension DeliveryRecord {
    init(row: Row) throws {
        self.init(
            id: row["id"].int64 ?? 0, taskUUID: try text(row, "task_uuid", table: "deliveries"), videoUUID: row["video_uuid"].string,
            kind: try decode(row, "kind", table: "deliveries"), url: try text(row, "url", table: "deliveries"),
            messageID: row["message_id"].string ?? "", state: try decode(row, "state", table: "deliveries"), attempts: row["attempts"].int ?? 0,
            nextAttemptAt: row["next_attempt_at"].double ?? 0, lastError: row["last_error"].string,
            apiKeyName: row["api_key_name"].string ?? "", targetHost: row["target_host"].string ?? "")
    }
}
