import CSQLite

/// One SQLite connection.
///
/// Opened in multi-thread mode (`SQLITE_OPEN_NOMUTEX`): it must only be used by one thread at a
/// time, which ``DatabasePool`` guarantees by confining each connection to a serial queue.
public final class Database {
    public struct Options: Sendable {
        public var readOnly: Bool
        /// `FULL` makes every commit durable across power loss, which "acknowledged means
        /// durable" needs; group commit in ``DatabasePool`` pays the fsync once per batch.
        public var synchronousFull: Bool
        public var busyTimeoutMilliseconds: Int32

        public init(readOnly: Bool = false, synchronousFull: Bool = true, busyTimeoutMilliseconds: Int32 = 5000) {
            self.readOnly = readOnly
            self.synchronousFull = synchronousFull
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        }
    }

    let handle: OpaquePointer
    public let path: String
    private var statements: [String: Statement] = [:]
    /// What this connection's cached statements did since it opened (see ``StatementWork``).
    public internal(set) var work = StatementWork()

    /// Process-wide settings, applied once before the first connection opens.
    private static let configured: Void = { _ = csqlite_disable_memory_statistics() }()

    public init(path: String, options: Options = Options()) throws(SQLiteError) {
        Self.configured
        self.path = path
        var db: OpaquePointer?
        let extendedResultCodes: Int32 = 0x0200_0000  // SQLITE_OPEN_EXRESCODE
        let flags = (options.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            | SQLITE_OPEN_NOMUTEX | extendedResultCodes
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message, sql: path)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, options.busyTimeoutMilliseconds)
        if !options.readOnly {
            let mode = try query("PRAGMA journal_mode=WAL").first?[0].string
            guard mode?.lowercased() == "wal" else {
                throw SQLiteError(code: SQLITE_ERROR, message: "could not enable WAL (got \(mode ?? "nil"))", sql: path)
            }
            try execute(options.synchronousFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
        }
        try execute("PRAGMA foreign_keys=ON")
        // Statement journals and sorters past 64 KiB stay in memory instead of spilling to files
        // created and deleted in /var/tmp (a new inode each, which on ext4 without a journal
        // scans past every recently deleted one).
        try execute("PRAGMA temp_store=MEMORY")
        // Pages are read through a shared mapping instead of a pread each: a read transaction
        // after another connection's commit starts with an empty page cache.
        try execute("PRAGMA mmap_size=268435456")
    }

    deinit {
        statements.removeAll()  // finalize before closing
        sqlite3_close_v2(handle)
    }

    /// Runs one statement (or several separated by `;` when there are no parameters).
    public func execute(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) {
        if arguments.isEmpty, sql.contains(";") {
            var errorMessage: UnsafeMutablePointer<CChar>?
            let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
            if rc != SQLITE_OK {
                let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
                sqlite3_free(errorMessage)
                throw SQLiteError(code: rc, message: message, sql: sql)
            }
            return
        }
        let statement = try prepared(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {}
    }

    /// Runs a query and returns every row.
    public func query(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> [Row] {
        var rows: [Row] = []
        try forEachRow(sql, arguments) { rows.append($0) }
        return rows
    }

    /// Runs a query and hands each row to `body`, without collecting them.
    public func forEachRow(_ sql: String, _ arguments: [any SQLiteBindable] = [], _ body: (Row) throws(SQLiteError) -> Void)
        throws(SQLiteError)
    {
        let statement = try prepared(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {
            try body(statement.row())
        }
    }

    /// The first column of the first row.
    public func scalar(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> SQLiteValue {
        try query(sql, arguments).first?[0] ?? .null
    }

    /// Rows changed by the last INSERT/UPDATE/DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }
    /// The WAL file SQLite writes for this database (symbolic links resolved, as SQLite does).
    public var walPath: String? {
        guard let name = sqlite3_db_filename(handle, "main"), let wal = sqlite3_filename_wal(name) else { return nil }
        return String(cString: wal)
    }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    ///
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction that reads then writes
    /// cannot fail half-way with `SQLITE_BUSY_SNAPSHOT`.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// A cached prepared statement for `sql`.
    func prepared(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = statements[sql] { return cached }
        let statement = try Statement(database: self, sql: sql)
        statements[sql] = statement
        return statement
    }
}
