import Postgres

/// The database schema on PostgreSQL, as ordered migrations (append only). It starts at the
/// shape SQLite's nine migrations reached: a PostgreSQL database has no history to replay. Times
/// are seconds since 1970 as `double precision`, as in the records; states are text bound from
/// the code's enums.
public enum PostgresSchema {
    public static var migrator: PostgresMigrator {
        var m = PostgresMigrator()
        m.add("""
            CREATE TABLE instance_starts (
                id bigserial PRIMARY KEY,
                started_at double precision NOT NULL,
                version text NOT NULL
            );
            CREATE TABLE health (
                id integer PRIMARY KEY CHECK (id = 1),
                checked_at double precision NOT NULL
            );
            INSERT INTO health (id, checked_at) VALUES (1, 0);
            CREATE TABLE tasks (
                uuid text PRIMARY KEY,
                api_key_name text NOT NULL,
                model text NOT NULL,
                request_json text NOT NULL,
                request_hash text NOT NULL,
                state text NOT NULL,
                created_at double precision NOT NULL,
                updated_at double precision NOT NULL,
                dispatched_at double precision,
                deadline_at double precision,
                attempts integer NOT NULL DEFAULT 0,
                next_attempt_at double precision NOT NULL,
                lease_owner text,
                lease_expires_at double precision,
                provider text,
                upstream_id text,
                error_code text,
                error_message text,
                parent_video_uuid text,
                poll_interval double precision
            );
            CREATE INDEX tasks_queue ON tasks (state, next_attempt_at);
            CREATE INDEX tasks_leases ON tasks (state, lease_expires_at);
            CREATE INDEX tasks_created ON tasks (created_at);
            CREATE TABLE results (
                video_uuid text PRIMARY KEY,
                task_uuid text NOT NULL REFERENCES tasks (uuid),
                idx integer NOT NULL,
                seed bigint NOT NULL,
                state text NOT NULL,
                progress integer NOT NULL DEFAULT 0,
                format text NOT NULL,
                media_path text,
                media_bytes bigint,
                ready_at double precision,
                expires_at double precision,
                cost double precision,
                error_code text,
                error_message text,
                UNIQUE (task_uuid, idx)
            );
            CREATE TABLE task_events (
                id bigserial PRIMARY KEY,
                task_uuid text NOT NULL,
                at double precision NOT NULL,
                state text NOT NULL,
                detail text
            );
            CREATE INDEX task_events_task ON task_events (task_uuid, id);
            CREATE TABLE images (
                uuid text PRIMARY KEY,
                api_key_name text NOT NULL,
                path text NOT NULL,
                mime text NOT NULL,
                bytes bigint NOT NULL,
                created_at double precision NOT NULL,
                expires_at double precision NOT NULL
            );
            CREATE INDEX images_expiry ON images (expires_at);
            CREATE TABLE settings (
                key text PRIMARY KEY,
                value text NOT NULL
            );
            CREATE TABLE key_inflight (
                api_key_name text PRIMARY KEY,
                count integer NOT NULL
            );
            CREATE TABLE deliveries (
                id bigserial PRIMARY KEY,
                task_uuid text NOT NULL REFERENCES tasks (uuid),
                video_uuid text,
                kind text NOT NULL,
                url text NOT NULL,
                message_id text NOT NULL,
                state text NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                next_attempt_at double precision NOT NULL,
                lease_owner text,
                lease_expires_at double precision,
                last_error text,
                target_host text NOT NULL DEFAULT '',
                UNIQUE NULLS NOT DISTINCT (task_uuid, video_uuid, kind)
            );
            CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
            CREATE TABLE delivery_attempts (
                id bigserial PRIMARY KEY,
                delivery_id bigint NOT NULL REFERENCES deliveries (id),
                at double precision NOT NULL,
                target_host text NOT NULL,
                status_code integer,
                latency_ms double precision NOT NULL,
                error text
            );
            CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
            """)
        // Provider limits through the database (ProviderQuotaStore): one row per job slot held,
        // and each provider's request schedule (its theoretical next-request time, GCRA).
        m.add("""
            CREATE TABLE provider_slots (
                provider text NOT NULL,
                task_uuid text NOT NULL,
                taken_at double precision NOT NULL,
                PRIMARY KEY (provider, task_uuid)
            );
            CREATE TABLE provider_schedules (
                provider text PRIMARY KEY,
                ready_at double precision NOT NULL
            );
            """)
        // A key's in-flight count over several rows (PostgresTaskStore.inFlightShards): one
        // row per key was a lock every submit of the key queued behind until commit. The old
        // table stays while older instances may still run (a rolling upgrade); unused here.
        m.add("""
            CREATE TABLE key_inflight_shards (
                api_key_name text NOT NULL,
                shard integer NOT NULL,
                count bigint NOT NULL,
                PRIMARY KEY (api_key_name, shard)
            );
            INSERT INTO key_inflight_shards (api_key_name, shard, count) SELECT api_key_name, 0, count FROM key_inflight;
            """)
        // The ops console's sign-in sessions (a digest of each token, never the token), and one key's
        // tasks by age (a client key's list and figures).
        m.add("""
            CREATE TABLE console_sessions (
                digest text PRIMARY KEY,
                api_key_name text NOT NULL,
                key_fingerprint text NOT NULL,
                created_at double precision NOT NULL,
                expires_at double precision NOT NULL
            );
            CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
            CREATE INDEX console_sessions_key ON console_sessions (api_key_name, created_at);
            CREATE INDEX tasks_key_created ON tasks (api_key_name, created_at);
            """)
        // Videos of the OpenAI-compatible API (SPEC §18): what that API keeps of each, and its
        // deletion (the task stays for ops).
        m.add("""
            ALTER TABLE tasks ADD COLUMN openai_json text;
            ALTER TABLE tasks ADD COLUMN deleted_at double precision;
            CREATE INDEX tasks_openai_key ON tasks (api_key_name, created_at, uuid) WHERE openai_json IS NOT NULL AND deleted_at IS NULL;
            CREATE INDEX tasks_openai ON tasks (created_at, uuid) WHERE openai_json IS NOT NULL AND deleted_at IS NULL;
            """)
        // The media sweep's page (expired media, oldest first) read from an index of the
        // results that still hold media, not by scanning and sorting every result ever stored.
        m.add("""
            CREATE INDEX results_media_expiry ON results (expires_at, video_uuid) WHERE media_path IS NOT NULL;
            """)
        // Parked running tasks by when their next poll is due. `tasks_queue` holds them too, but
        // among every running task an instance holds, whose due times have passed: a claim
        // stepped through all of those to find the one that is parked. (The condition is that of
        // `PostgresTaskStore.parkedClaim`, written out: a migration never changes.)
        m.add("""
            CREATE INDEX tasks_parked ON tasks (next_attempt_at) WHERE state = 'running' AND lease_owner IS NULL;
            """)
        // The tasks that extend a video, for its lineage: without it every lineage read went
        // through all tasks. Only tasks with a parent are in it.
        m.add("""
            CREATE INDEX tasks_children ON tasks (parent_video_uuid) WHERE parent_video_uuid IS NOT NULL;
            """)
        return m
    }
}
