import Domain
import Postgres
import Store

/// Provider limits across every instance on this database (``ProviderQuotaStore``).
extension PostgresTaskStore: ProviderQuotaStore {
    /// The first key of the two-key advisory locks that serialise one provider's slot takes
    /// (the second is the provider name's hash); a key space of its own, apart from migrations.
    static let slotLockSpace = "7301"

    /// Under a transaction-scoped advisory lock per provider: READ COMMITTED gives each statement
    /// a fresh snapshot, so the count taken after the lock sees every slot committed before it,
    /// and no two instances can both see "3 of 4" and both take the fourth.
    public func takeProviderSlot(provider: String, task: String, limit: Int, force: Bool) async throws -> Bool {
        let now = self.now
        let live = Self.array([.dispatching, .running])
        return try await pool.transaction { (db: PostgresConnection) throws(PostgresError) -> Bool in
            try db.execute(prepared: "slot_lock", "SELECT pg_advisory_xact_lock($1::integer, hashtext($2))", [Self.slotLockSpace, provider])
            let held = try db.execute(prepared: "slot_held", "SELECT 1 FROM provider_slots WHERE provider = $1 AND task_uuid = $2", [provider, task])
            if held.count == 1 { return true }
            func taken() throws(PostgresError) -> Int {
                Int(try db.execute(prepared: "slot_count", "SELECT count(*) AS n FROM provider_slots WHERE provider = $1", [provider])
                    .row(0).int("n") ?? 0)
            }
            if !force, try taken() >= limit {
                // Looks full: first give back the slots of tasks that no longer run here (a
                // release lost with its instance, a task cancelled elsewhere while parked, one
                // that fell back to another provider).
                try db.execute(
                    prepared: "slot_reclaim",
                    """
                    DELETE FROM provider_slots s WHERE s.provider = $1
                    AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.uuid = s.task_uuid AND t.state = ANY($2::text[])
                                    AND (t.provider IS NULL OR t.provider = s.provider))
                    """, [provider, live])
                guard try taken() < limit else { return false }
            }
            try db.execute(prepared: "slot_take", "INSERT INTO provider_slots (provider, task_uuid, taken_at) VALUES ($1, $2, $3)",
                           [provider, task, String(now)])
            return true
        }
    }

    public func releaseProviderSlot(provider: String, task: String) async throws {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) in
            try db.execute(prepared: "slot_release", "DELETE FROM provider_slots WHERE provider = $1 AND task_uuid = $2", [provider, task])
        }
    }

    /// One statement: the row lock of the provider's schedule orders the reservations of every
    /// instance, and the time is the database's, so clocks of instances do not matter.
    public func reserveProviderRequests(provider: String, cost: Double, tolerance: Double) async throws -> Double {
        try await pool.withConnection { (db: PostgresConnection) throws(PostgresError) -> Double in
            let ahead = try db.execute(
                prepared: "schedule_reserve",
                """
                WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t)
                INSERT INTO provider_schedules AS s (provider, ready_at) SELECT $1, now.t + $2::double precision FROM now
                ON CONFLICT (provider) DO UPDATE SET ready_at = greatest(s.ready_at, (SELECT t FROM now)) + $2::double precision
                RETURNING s.ready_at - (SELECT t FROM now) AS ahead
                """, [provider, String(cost)]
            ).row(0).double("ahead") ?? 0
            return max(0, ahead - tolerance)
        }
    }
}
