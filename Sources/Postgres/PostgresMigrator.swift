/// Ordered schema migrations for PostgreSQL, applied once however many instances start together.
///
/// The migrating session holds a transaction-independent advisory lock (`pg_advisory_lock`) while
/// it reads `schema_migrations` and applies what is missing, each migration in its own
/// transaction with its version row, so a crash mid-migration leaves the old version and a second
/// instance waits for the first, then finds nothing left to do.
public struct PostgresMigrator: Sendable {
    /// The advisory lock's key: any constant unique to reelgate's schema.
    static let lockKey: Int64 = 0x7265_656C_6761_7465  // "reelgate"

    private var migrations: [String] = []

    public init() {}

    public mutating func add(_ sql: String) { migrations.append(sql) }

    public var latestVersion: Int { migrations.count }

    /// Applies what is missing; returns the version the database is at afterwards.
    @discardableResult
    public func migrate(_ db: PostgresConnection) throws(PostgresError) -> Int {
        try db.execute("SELECT pg_advisory_lock($1)", [String(Self.lockKey)])
        defer { _ = try? db.execute("SELECT pg_advisory_unlock($1)", [String(Self.lockKey)]) }
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        let current = Int(try db.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").row(0).int("v") ?? 0)
        guard current <= migrations.count else {
            throw PostgresError(.statement, message: "database schema version \(current) is newer than this build knows (\(migrations.count))")
        }
        for version in current..<migrations.count {
            try db.transaction { (db: PostgresConnection) throws(PostgresError) in
                try db.executeScript(migrations[version])
                try db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [String(version + 1)])
            }
        }
        return migrations.count
    }
}
