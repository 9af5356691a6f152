import Domain
import Postgres
import SQLite
import SQLiteStore
import Store

/// `reelgate migrate-store`: copies a stopped SQLite data dir's store into an empty PostgreSQL
/// database, so an instance that outgrew one box keeps its history: tasks with their results,
/// event logs and lineage (`parent_video_uuid`), uploaded images, deliveries with their attempts,
/// and settings (the media signing key among them, so links already handed out stay valid).
///
/// One PostgreSQL transaction: a crash or `kill -9` part-way leaves the target as it was, and the
/// command can simply be run again. It refuses a target that already holds tasks (the copy is
/// not a merge: taskUUIDs and the signing key must not collide). Leases are released, so the
/// first instance on PostgreSQL resumes whatever was under way, from its stored state.
///
/// Columns are copied by name (those both schemas have), as text that PostgreSQL casts to the
/// column's type; a column the target requires and the source lacks fails the copy, with its name.
public enum SQLiteImport {
    public struct Summary: Sendable {
        /// Rows copied per table, in copy order.
        public var copied: [(table: String, rows: Int)] = []
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Tables in the order foreign keys need; `rewrite` maps a stored file path (a result's
    /// media, an image) to where it will be.
    static let tables = ["tasks", "results", "task_events", "images", "deliveries", "delivery_attempts", "settings"]
    static let pathColumns: [String: String] = ["results": "media_path", "images": "path"]
    static let serials = ["task_events", "deliveries", "delivery_attempts"]

    public static func run(sqlitePath: String, into url: PostgresURL, rewrite: (String) -> String = { $0 }) throws -> Summary {
        let source = try Database(path: sqlitePath)
        try Schema.migrator.migrate(source)  // an older data dir reaches this build's shape first
        _ = try PostgresTaskStore(url: url, poolSize: 1)  // migrates the target
        let target = try PostgresConnection(url)
        defer { target.close() }
        var summary = Summary()
        try target.transaction { (db: PostgresConnection) throws(PostgresError) in
            let existing = try db.execute("SELECT count(*) AS n FROM tasks").row(0).int("n") ?? 0
            guard existing == 0 else {
                throw PostgresError(.statement, message: "the target database already holds \(existing) tasks; migrate-store copies into an empty one")
            }
            do {
                for table in tables {
                    summary.copied.append((table, try copy(table, from: source, to: db, rewrite: rewrite)))
                }
            } catch let error as PostgresError {
                throw error
            } catch {
                throw PostgresError(.statement, message: "reading the SQLite store: \(error)")
            }
            // Whatever was held in the old process is free to be claimed and resumed.
            try db.execute("UPDATE tasks SET lease_expires_at = 0 WHERE lease_owner IS NOT NULL AND lease_owner <> $1", [PostgresTaskStore.quarantined])
            try db.execute("UPDATE deliveries SET lease_expires_at = 0 WHERE state = $1", [DeliveryRecord.State.sending.rawValue])
            // Each key's unfinished tasks, counted afresh (the cap's counter).
            try db.execute(
                """
                INSERT INTO key_inflight_shards (api_key_name, shard, count)
                SELECT api_key_name, 0, count(*) FROM tasks WHERE NOT (state = ANY($1::text[])) GROUP BY api_key_name
                """, [PostgresTaskStore.array(TaskState.allCases.filter(\.isTerminal))])
            for table in serials {
                try db.execute("SELECT setval(pg_get_serial_sequence($1, 'id'), greatest((SELECT max(id) FROM \(table)), 1))", [table])
            }
        }
        return summary
    }

    private static func copy(_ table: String, from source: Database, to db: PostgresConnection, rewrite: (String) -> String) throws -> Int {
        let targetColumns = try db.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
                                           [table]).allRows.map { try $0.string("column_name") ?? "" }
        let sourceColumns = try source.query("SELECT name FROM pragma_table_info(?)", [table]).map { $0["name"].string ?? "" }
        let columns = sourceColumns.filter(targetColumns.contains)
        guard !columns.isEmpty else { return 0 }
        let list = columns.joined(separator: ", ")
        let placeholders = columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
        // Settings: the source's win (its signing key signed the links clients hold).
        let conflict = table == "settings" ? " ON CONFLICT (key) DO UPDATE SET value = excluded.value" : ""
        let insert = "INSERT INTO \(table) (\(list)) VALUES (\(placeholders))\(conflict)"
        let pathIndex = pathColumns[table].flatMap { columns.firstIndex(of: $0) }
        var rows = 0
        var failure: PostgresError?
        try source.forEachRow("SELECT \(list) FROM \(table)") { row in
            guard failure == nil else { return }
            var values: [String?] = row.values.map(text)
            if let pathIndex, let path = values[pathIndex] { values[pathIndex] = rewrite(path) }
            do {
                try db.execute(prepared: "import_\(table)", insert, values)
                rows += 1
            } catch let error as PostgresError {
                failure = error
            } catch {
                failure = PostgresError(.statement, message: "\(error)")
            }
        }
        if let failure { throw failure }
        return rows
    }

    /// A SQLite value as the text PostgreSQL reads back into the column's type.
    static func text(_ value: SQLiteValue) -> String? {
        switch value {
        case .null: nil
        case .integer(let n): String(n)
        case .real(let d): String(d)
        case .text(let s): s
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }
}
