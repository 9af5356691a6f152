import Domain
import Foundation
import Postgres
import Store

/// The store contract on PostgreSQL, for several gateways sharing one database (SPEC §16).
///
/// It runs the same contract suite as the SQLite store (`Tests/StoreTests`), and tells other
/// instances of new work with `NOTIFY` (``WorkNotifying``), and keeps provider limits for all of
/// them (``ProviderQuotaStore``). Needs PostgreSQL 15 (`NULLS NOT DISTINCT`).
///
/// Concurrency model: a ``PostgresPool`` of blocking libpq connections, each on a serial queue;
/// every write is one transaction whose guarantees come from the database (unique keys, row
/// locks), never from this process, since other instances write too.
public final class PostgresTaskStore: TaskStore, WorkNotifying {
    let pool: PostgresPool
    let listener: PostgresWorkListener
    /// The database's clock minus this machine's, measured at start: leases are compared across
    /// instances, so their times are the database's.
    let clockOffset: Double
    /// A clock of the caller's instead (the contract tests move time by hand).
    let clock: (@Sendable () -> Double)?

    /// Connects, migrates (once, whatever other instances start at the same time) and reads the
    /// database's clock; blocking, at start-up.
    public init(url: PostgresURL, poolSize: Int = 8, clock: (@Sendable () -> Double)? = nil) throws {
        let db = try PostgresConnection(url)
        defer { db.close() }
        try PostgresSchema.migrator.migrate(db)
        let local = Date().timeIntervalSince1970
        let remote = try db.execute("SELECT extract(epoch FROM clock_timestamp())::double precision AS now").row(0).double("now") ?? local
        clockOffset = remote - local
        self.clock = clock
        pool = PostgresPool(url: url, size: poolSize)
        listener = PostgresWorkListener(url: url)
    }

    deinit { listener.stop() }

    public func listenForWork(_ handler: @escaping @Sendable (StoreWork) -> Void) { listener.add(handler) }

    public func stopListening() { listener.stop() }

    /// Tells every instance listening, at this transaction's commit (`pg_notify` is transactional).
    static func notify(_ db: PostgresConnection, _ work: StoreWork) throws(PostgresError) {
        try db.execute(prepared: "notify_\(work.rawValue)", "SELECT pg_notify($1, '')", [PostgresWorkListener.channels[work]])
    }

    public var now: Double { clock?() ?? Date().timeIntervalSince1970 + clockOffset }

    // MARK: Submit

    /// One transaction for the batch. A taskUUID is stored once across every instance (its
    /// primary key; a racing insert waits for the other's commit and then sees the row); a key's
    /// in-flight cap holds because its counter row is locked while it is checked and raised.
    public func submit(_ tasks: [NewTask]) async throws -> [SubmitOutcome] {
        let now = self.now
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> [SubmitOutcome] in
            // The keys' counter rows, locked in one order whatever the batch's: two batches with
            // the same keys in another order must not deadlock.
            var inFlight: [String: Int64] = [:]
            for key in Set(tasks.map(\.apiKeyName)).sorted() {
                try db.execute(prepared: "inflight_row", "INSERT INTO key_inflight (api_key_name, count) VALUES ($1, 0) ON CONFLICT DO NOTHING", [key])
                inFlight[key] = try db.execute(prepared: "inflight_lock", "SELECT count FROM key_inflight WHERE api_key_name = $1 FOR UPDATE", [key])
                    .row(0).int("count") ?? 0
            }
            // Tasks in taskUUID order, so that two batches holding the same UUIDs take their row
            // locks in one order (no deadlock); the outcomes go back in the batch's order.
            var outcomes = [SubmitOutcome](repeating: .conflict, count: tasks.count)
            for (position, task) in tasks.enumerated().sorted(by: { $0.element.uuid < $1.element.uuid }) {
                func record(_ outcome: SubmitOutcome) { outcomes[position] = outcome }
                if let outcome = try Self.existing(db, task) {
                    record(outcome)
                    continue
                }
                if let cap = task.maxInFlight, inFlight[task.apiKeyName, default: 0] >= cap {
                    record(.tooManyInFlight)
                    continue
                }
                let inserted = try db.execute(
                    prepared: "insert_task",
                    """
                    INSERT INTO tasks (uuid, api_key_name, model, request_json, request_hash, state, created_at, updated_at,
                                       next_attempt_at, parent_video_uuid)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8) ON CONFLICT (uuid) DO NOTHING
                    """,
                    [task.uuid, task.apiKeyName, task.model, task.requestJSON, task.requestHash, TaskState.queued.rawValue, String(now),
                     task.parentVideoUUID])
                guard inserted.affectedRows == 1 else {
                    // Another instance stored it between the look and the insert.
                    record(try Self.existing(db, task) ?? .conflict)
                    continue
                }
                try db.execute(prepared: "inflight_up", "UPDATE key_inflight SET count = count + 1 WHERE api_key_name = $1", [task.apiKeyName])
                inFlight[task.apiKeyName, default: 0] += 1
                for (index, (seed, videoUUID)) in zip(task.seeds, task.videoUUIDs).enumerated() {
                    try db.execute(
                        prepared: "insert_result", "INSERT INTO results (video_uuid, task_uuid, idx, seed, state, format) VALUES ($1, $2, $3, $4, $5, $6)",
                        [videoUUID, task.uuid, String(index), String(seed), ResultState.pending.rawValue, task.format])
                }
                record(.created)
            }
            if outcomes.contains(.created) { try Self.notify(db, .tasks) }
            return outcomes
        }
    }

    /// `duplicate` or `conflict` for a taskUUID already stored, nil if it is not.
    private static func existing(_ db: PostgresConnection, _ task: NewTask) throws(PostgresError) -> SubmitOutcome? {
        let found = try db.execute(prepared: "task_hash", "SELECT request_hash, api_key_name FROM tasks WHERE uuid = $1", [task.uuid])
        guard found.count > 0 else { return nil }
        let row = found.row(0)
        let hash = try row.string("request_hash"), owner = try row.string("api_key_name")
        return hash == task.requestHash && owner == task.apiKeyName ? .duplicate : .conflict
    }

    // MARK: Reads

    public func find(_ uuid: String) async throws -> TaskRecord? {
        let (task, results) = try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> (PostgresRow?, [PostgresRow]) in
            let tasks = try db.execute(prepared: "find_task", "SELECT * FROM tasks WHERE uuid = $1", [uuid])
            guard tasks.count > 0 else { return (nil, []) }
            return (tasks.row(0), try db.execute(prepared: "find_results", "SELECT * FROM results WHERE task_uuid = $1 ORDER BY idx", [uuid]).allRows)
        }
        guard let task else { return nil }
        var record = try TaskRecord(columns: PostgresColumns(row: task))
        record.results = try results.map { try ResultRecord(columns: PostgresColumns(row: $0)) }
        return record
    }

    public func inFlight(keyName: String) async throws -> Int {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Int in
            Int(try db.execute(prepared: "inflight", "SELECT count FROM key_inflight WHERE api_key_name = $1", [keyName]).rows.first?[0]
                .flatMap { Int64($0) } ?? 0)
        }
    }
}
