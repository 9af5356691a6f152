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
    let submitGroups: SubmitGroups
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
        let pool = self.pool, offset = clockOffset
        // One group in flight at a time: under load every submit that arrives meanwhile joins the
        // next group, and big groups are what makes them cheap (bench/postgres: one flusher
        // 7.7–8.2k submits/s, two 4.4–5.1k, four 2.7–3.6k on this 2-core machine).
        submitGroups = SubmitGroups(flushes: 1) { tasks throws(PostgresError) in
            try await Self.insert(tasks, now: clock?() ?? Date().timeIntervalSince1970 + offset, pool: pool)
        }
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

    /// Durable before it returns, and group-committed: submits that arrive while a transaction
    /// is under way go together into the next one (``SubmitGroups``), each answered after its
    /// COMMIT, with `synchronous_commit` as the server has it (on by default).
    public func submit(_ tasks: [NewTask]) async throws -> [SubmitOutcome] {
        try await submitGroups.submit(tasks)
    }

    /// One transaction for a group of submits, flattened, in a fixed number of statements
    /// whatever its size (arrays through `unnest`). A taskUUID is stored once across every
    /// instance (its primary key: a racing insert waits for the other's commit and then does
    /// nothing), and once within the group (a later copy is the earlier one's duplicate).
    ///
    /// A key's in-flight count is spread over ``inFlightShards`` rows, so groups of one busy key
    /// (one app, several instances) do not queue behind a single row lock until each commits: a
    /// group adds to one shard. A key with a cap locks all its shards while it checks and raises
    /// the count, deciding in arrival order. Locks are taken in one order (key counters by key and
    /// shard, then taskUUIDs sorted), so two instances' groups never deadlock.
    static func insert(_ tasks: [NewTask], now: Double, pool: PostgresPool) async throws(PostgresError) -> [SubmitOutcome] {
        let capped = Set(tasks.filter { $0.maxInFlight != nil }.map(\.apiKeyName)).sorted()
        let uuidArray = try PostgresArray.literal(tasks.map(\.uuid))
        let shard = String(Int.random(in: 0..<inFlightShards))
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> [SubmitOutcome] in
            var inFlight: [String: Int64] = [:]
            if !capped.isEmpty {
                let keyArray = try PostgresArray.literal(capped)
                try db.execute(
                    prepared: "inflight_rows",
                    "INSERT INTO key_inflight_shards (api_key_name, shard, count) SELECT k, s, 0 FROM unnest($1::text[]) k, generate_series(0, $2::integer - 1) s ORDER BY 1, 2 ON CONFLICT DO NOTHING",
                    [keyArray, String(inFlightShards)])
                for row in try db.execute(
                    prepared: "inflight_lock",
                    "SELECT api_key_name, count FROM key_inflight_shards WHERE api_key_name = ANY($1::text[]) ORDER BY api_key_name, shard FOR UPDATE",
                    [keyArray]
                ).allRows {
                    inFlight[try row.string("api_key_name") ?? "", default: 0] += try row.int("count") ?? 0
                }
            }
            // Joined to the array (not `uuid = ANY($1)`, which a generic plan may answer with a
            // scan of the whole table): one primary-key look-up per task.
            var stored: [String: (hash: String?, key: String?)] = [:]
            for row in try db.execute(prepared: "tasks_hashes", "SELECT t.uuid, t.request_hash, t.api_key_name FROM unnest($1::text[]) AS u(uuid) JOIN tasks t ON t.uuid = u.uuid",
                                      [uuidArray]).allRows {
                stored[try row.string("uuid") ?? ""] = (try row.string("request_hash"), try row.string("api_key_name"))
            }
            func seen(_ task: NewTask) -> SubmitOutcome? {
                guard let found = stored[task.uuid] else { return nil }
                return found.hash == task.requestHash && found.key == task.apiKeyName ? .duplicate : .conflict
            }
            // Decisions in arrival order; what is planned counts as stored for the rest of the group.
            var outcomes = [SubmitOutcome](repeating: .created, count: tasks.count)
            var planned: [Int] = []
            var plannedUUIDs = Set<String>()
            var copiesOfPlanned: [Int] = []  // judged against a task planned in this group
            for (position, task) in tasks.enumerated() {
                if let outcome = seen(task) {
                    outcomes[position] = outcome
                    if plannedUUIDs.contains(task.uuid) { copiesOfPlanned.append(position) }
                } else if let cap = task.maxInFlight, inFlight[task.apiKeyName, default: 0] >= cap {
                    outcomes[position] = .tooManyInFlight
                } else {
                    stored[task.uuid] = (task.requestHash, task.apiKeyName)
                    plannedUUIDs.insert(task.uuid)
                    inFlight[task.apiKeyName, default: 0] += 1
                    planned.append(position)
                }
            }
            guard !planned.isEmpty else { return outcomes }
            // The counts go up before the rows go in (key locks before task locks, always);
            // a row another instance stored meanwhile gives its count back below.
            var added: [String: Int] = [:]
            for position in planned { added[tasks[position].apiKeyName, default: 0] += 1 }
            try addInFlight(db, added, shard: shard)
            planned.sort { tasks[$0].uuid < tasks[$1].uuid }
            let rows = planned.map { tasks[$0] }
            func column(_ value: (NewTask) -> String?) throws(PostgresError) -> String? { try PostgresArray.literal(rows.map(value)) }
            let inserted = try db.execute(
                prepared: "insert_tasks",
                """
                INSERT INTO tasks (uuid, api_key_name, model, request_json, request_hash, state, created_at, updated_at,
                                   next_attempt_at, parent_video_uuid, openai_json)
                SELECT u, k, m, j, h, $6, $7, $7, $7, p, o FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $8::text[], $9::text[])
                    AS t(u, k, m, j, h, p, o) ORDER BY u
                ON CONFLICT (uuid) DO NOTHING RETURNING uuid
                """,
                [try column(\.uuid), try column(\.apiKeyName), try column(\.model), try column(\.requestJSON), try column(\.requestHash),
                 TaskState.queued.rawValue, String(now), try column(\.parentVideoUUID), try column(\.openAI)])
            var created = Set<String>()
            for row in inserted.allRows { created.insert(try row.string("uuid") ?? "") }
            var givenBack: [String: Int] = [:]
            var results: [(task: NewTask, index: Int)] = []
            for position in planned {
                let task = tasks[position]
                guard created.contains(task.uuid) else {
                    // Another instance stored it between the look and the insert: its row says
                    // which (the slot this one counted was not used, so later refusals were
                    // merely conservative).
                    let found = try db.execute(prepared: "task_hash", "SELECT request_hash, api_key_name FROM tasks WHERE uuid = $1", [task.uuid])
                    stored[task.uuid] = found.count == 1 ? (try found.row(0).string("request_hash"), try found.row(0).string("api_key_name")) : (nil, nil)
                    outcomes[position] = seen(task) ?? .conflict
                    givenBack[task.apiKeyName, default: 0] -= 1
                    continue
                }
                results += task.seeds.indices.map { (task, $0) }
            }
            if !results.isEmpty {
                try db.execute(
                    prepared: "insert_results",
                    """
                    INSERT INTO results (video_uuid, task_uuid, idx, seed, state, format)
                    SELECT v, t, i, s, $5, f FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $6::text[]) AS r(v, t, i, s, f)
                    """,
                    [try PostgresArray.literal(results.map { $0.task.videoUUIDs[$0.index] }), try PostgresArray.literal(results.map { $0.task.uuid }),
                     try PostgresArray.literal(results.map { String($0.index) }), try PostgresArray.literal(results.map { String($0.task.seeds[$0.index]) }),
                     ResultState.pending.rawValue, try PostgresArray.literal(results.map { $0.task.format })])
                try Self.notify(db, .tasks)
            }
            // A later copy in this group of a task another instance stored first is judged
            // against that instance's row, not against the copy this group planned.
            for position in copiesOfPlanned where !created.contains(tasks[position].uuid) {
                outcomes[position] = seen(tasks[position]) ?? .conflict
            }
            if !givenBack.isEmpty { try addInFlight(db, givenBack, shard: shard) }
            return outcomes
        }
    }

    /// Rows per key that its in-flight count is spread over.
    static let inFlightShards = 16

    /// Adds to keys' in-flight counts in one shard (keys in order: the lock order).
    static func addInFlight(_ db: PostgresConnection, _ deltas: [String: Int], shard: String) throws(PostgresError) {
        let sorted = deltas.sorted { $0.key < $1.key }
        try db.execute(
            prepared: "inflight_add",
            """
            INSERT INTO key_inflight_shards AS k (api_key_name, shard, count) SELECT name, $3::integer, n FROM unnest($1::text[], $2::bigint[]) AS d(name, n)
            ON CONFLICT (api_key_name, shard) DO UPDATE SET count = k.count + excluded.count
            """, [try PostgresArray.literal(sorted.map(\.key)), try PostgresArray.literal(sorted.map { String($0.value) }), shard])
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
            Int(try db.execute(prepared: "inflight", "SELECT coalesce(sum(count), 0) AS n FROM key_inflight_shards WHERE api_key_name = $1",
                               [keyName]).row(0).int("n") ?? 0)
        }
    }
}
