/// Ordered schema migrations keyed by `PRAGMA user_version`.
///
/// Migration *n* (1-based) moves the schema from version n-1 to n inside its own `BEGIN IMMEDIATE`
/// transaction, together with the version bump, so a crash mid-migration leaves the old version
/// and the migration simply runs again.
public struct Migrator: Sendable {
    public typealias Migration = @Sendable (Database) throws -> Void
    private var migrations: [Migration] = []

    public init() {}

    public mutating func add(_ sql: String) {
        migrations.append { db in try db.execute(sql) }
    }

    public mutating func add(_ migration: @escaping Migration) {
        migrations.append(migration)
    }

    public var latestVersion: Int { migrations.count }

    /// Applies what is missing, up to `target` (a test builds a database as an older release left
    /// it); returns the version the database is at afterwards.
    @discardableResult
    public func migrate(_ db: Database, upTo target: Int? = nil) throws -> Int {
        let current = try db.scalar("PRAGMA user_version").int ?? 0
        guard current <= migrations.count else {
            throw SQLiteError(
                code: 1, message: "database schema version \(current) is newer than this build knows (\(migrations.count))")
        }
        let target = min(target ?? migrations.count, migrations.count)
        guard current < target else { return current }
        for version in current..<target {
            try db.transaction {
                try migrations[version](db)
                try db.execute("PRAGMA user_version = \(version + 1)")
            }
        }
        return target
    }
}
