import CSQLite

/// A prepared statement, owned by one ``Database``'s cache.
final class Statement {
    private let pointer: OpaquePointer
    private unowned let database: Database
    let sql: String
    private lazy var columnNames = ColumnNames((0..<sqlite3_column_count(pointer)).map {
        String(cString: sqlite3_column_name(pointer, $0))
    })

    init(database: Database, sql: String) throws(SQLiteError) {
        var statement: OpaquePointer?
        let persistent = UInt32(SQLITE_PREPARE_PERSISTENT)
        let rc = sqlite3_prepare_v3(database.handle, sql, -1, persistent, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: database.lastErrorMessage, sql: sql)
        }
        pointer = statement
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(pointer) }

    func bind(_ arguments: [any SQLiteBindable]) throws(SQLiteError) {
        let expected = Int(sqlite3_bind_parameter_count(pointer))
        guard expected == arguments.count else {
            throw SQLiteError(code: SQLITE_RANGE, message: "expected \(expected) arguments, got \(arguments.count)", sql: sql)
        }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch argument.sqliteValue {
            case .null: rc = sqlite3_bind_null(pointer, index)
            case .integer(let v): rc = sqlite3_bind_int64(pointer, index, v)
            case .real(let v): rc = sqlite3_bind_double(pointer, index, v)
            case .text(let v):
                var text = v
                rc = text.withUTF8 { utf8 in
                    utf8.withMemoryRebound(to: CChar.self) {
                        csqlite_bind_text_transient(pointer, index, $0.baseAddress, Int32($0.count))
                    }
                }
            case .blob(let v):
                rc = v.withUnsafeBytes { csqlite_bind_blob_transient(pointer, index, $0.baseAddress, Int32($0.count)) }
            }
            guard rc == SQLITE_OK else { throw SQLiteError(code: rc, message: database.lastErrorMessage, sql: sql) }
        }
    }

    /// Advances; true while there is a row.
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(pointer)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: rc, message: database.lastErrorMessage, sql: sql)
        }
    }

    /// The current row, copied out: column pointers die at the next step.
    func row() -> Row {
        let count = sqlite3_column_count(pointer)
        var values: [SQLiteValue] = []
        values.reserveCapacity(Int(count))
        for i in 0..<count {
            switch sqlite3_column_type(pointer, i) {
            case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(pointer, i)))
            case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(pointer, i)))
            case SQLITE_TEXT:
                let length = Int(sqlite3_column_bytes(pointer, i))
                let text = sqlite3_column_text(pointer, i).map {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                }
                values.append(.text(text ?? ""))
            case SQLITE_BLOB:
                let length = Int(sqlite3_column_bytes(pointer, i))
                let bytes = sqlite3_column_blob(pointer, i).map {
                    Array(UnsafeRawBufferPointer(start: $0, count: length))
                }
                values.append(.blob(bytes ?? []))
            default: values.append(.null)
            }
        }
        return Row(names: columnNames, values: values)
    }

    func reset() {
        database.work.fullScanSteps += Int(sqlite3_stmt_status(pointer, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1))
        database.work.virtualMachineSteps += Int(sqlite3_stmt_status(pointer, SQLITE_STMTSTATUS_VM_STEP, 1))
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }
}
