import Domain
import SQLite

/// The database schema, as ordered migrations. Append only: a released migration never changes.
public enum Schema {
    public static var migrator: Migrator {
        var m = Migrator()
        // 1: bookkeeping. `instance` records each start so ops can see restarts; `health` is what
        // /readyz writes to prove the database is writable.
        m.add("""
            CREATE TABLE instance_starts (
                id INTEGER PRIMARY KEY,
                started_at REAL NOT NULL,
                version TEXT NOT NULL
            ) STRICT;
            CREATE TABLE health (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                checked_at REAL NOT NULL
            ) STRICT;
            INSERT INTO health (id, checked_at) VALUES (1, 0);
            """)
        // 2: tasks, their results, the per-task event log, uploaded images, and settings.
        m.add("""
            CREATE TABLE tasks (
                uuid TEXT PRIMARY KEY,
                api_key_name TEXT NOT NULL,
                model TEXT NOT NULL,
                request_json TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                state TEXT NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                dispatched_at REAL,
                deadline_at REAL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL NOT NULL,
                lease_owner TEXT,
                lease_expires_at REAL,
                provider TEXT,
                upstream_id TEXT,
                error_code TEXT,
                error_message TEXT,
                parent_video_uuid TEXT
            ) STRICT;
            CREATE INDEX tasks_queue ON tasks (state, next_attempt_at);
            CREATE INDEX tasks_leases ON tasks (state, lease_expires_at);
            CREATE INDEX tasks_created ON tasks (created_at);
            CREATE TABLE results (
                video_uuid TEXT PRIMARY KEY,
                task_uuid TEXT NOT NULL REFERENCES tasks (uuid),
                idx INTEGER NOT NULL,
                seed INTEGER NOT NULL,
                state TEXT NOT NULL,
                progress INTEGER NOT NULL DEFAULT 0,
                format TEXT NOT NULL,
                media_path TEXT,
                media_bytes INTEGER,
                ready_at REAL,
                expires_at REAL,
                cost REAL,
                error_code TEXT,
                error_message TEXT,
                UNIQUE (task_uuid, idx)
            ) STRICT;
            CREATE TABLE task_events (
                id INTEGER PRIMARY KEY,
                task_uuid TEXT NOT NULL,
                at REAL NOT NULL,
                state TEXT NOT NULL,
                detail TEXT
            ) STRICT;
            CREATE INDEX task_events_task ON task_events (task_uuid, id);
            CREATE TABLE images (
                uuid TEXT PRIMARY KEY,
                api_key_name TEXT NOT NULL,
                path TEXT NOT NULL,
                mime TEXT NOT NULL,
                bytes INTEGER NOT NULL,
                created_at REAL NOT NULL
            ) STRICT;
            CREATE TABLE settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) STRICT;
            """)
        // 3: unfinished tasks per key, kept in the same transactions that insert tasks and end
        // them, so the in-flight cap never drifts across crashes.
        m.add("""
            CREATE TABLE key_inflight (
                api_key_name TEXT PRIMARY KEY,
                count INTEGER NOT NULL
            ) STRICT;
            INSERT INTO key_inflight (api_key_name, count)
                SELECT api_key_name, count(*) FROM tasks
                WHERE state NOT IN ('succeeded', 'failed', 'cancelled') GROUP BY api_key_name;
            """)
        // 4: deliveries (upload, webhook) per result, or per failed task, and their attempts.
        m.add("""
            CREATE TABLE deliveries (
                id INTEGER PRIMARY KEY,
                task_uuid TEXT NOT NULL REFERENCES tasks (uuid),
                video_uuid TEXT,
                kind TEXT NOT NULL,
                url TEXT NOT NULL,
                message_id TEXT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL NOT NULL,
                lease_owner TEXT,
                lease_expires_at REAL,
                last_error TEXT,
                UNIQUE (task_uuid, video_uuid, kind)
            ) STRICT;
            CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
            CREATE TABLE delivery_attempts (
                id INTEGER PRIMARY KEY,
                delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
                at REAL NOT NULL,
                target_host TEXT NOT NULL,
                status_code INTEGER,
                latency_ms REAL NOT NULL,
                error TEXT
            ) STRICT;
            CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
            """)
        // 5: a running task waiting for its next poll is parked in the store, not in memory.
        m.add("ALTER TABLE tasks ADD COLUMN poll_interval REAL")
        // 6: uploaded images expire (media.imageTTLSeconds); those from before get the default day.
        m.add("""
            ALTER TABLE images ADD COLUMN expires_at REAL;
            UPDATE images SET expires_at = created_at + 86400;
            CREATE INDEX images_expiry ON images (expires_at);
            """)
        // 7: each delivery's target host:port, so a claim can leave out hosts at their limit.
        m.add { db in
            try db.execute("ALTER TABLE deliveries ADD COLUMN target_host TEXT NOT NULL DEFAULT ''")
            for row in try db.query("SELECT id, url FROM deliveries") {
                try db.execute("UPDATE deliveries SET target_host = ? WHERE id = ?",
                               [URLHost.of(row["url"].string ?? "").lowercased(), row["id"].int64 ?? 0])
            }
        }
        // 8: acceptance is read from tasks.created_at (the first line of every event log), not
        // stored as a row of its own.
        m.add("DELETE FROM task_events WHERE state = 'queued' AND detail = 'accepted'")
        // 9: a target host never carries the URL's userinfo (a credential, and a way to split one
        // host's delivery quota in many); rows written before that are rewritten.
        m.add { db in
            for row in try db.query("SELECT id, url FROM deliveries WHERE target_host LIKE '%@%'") {
                try db.execute("UPDATE deliveries SET target_host = ? WHERE id = ?",
                               [URLHost.of(row["url"].string ?? "").lowercased(), row["id"].int64 ?? 0])
            }
        }
        // 10: the ops console's sign-in sessions (a digest of each token, never the token), and one key's
        // tasks by age (a client key's list and figures).
        m.add("""
            CREATE TABLE console_sessions (
                digest TEXT PRIMARY KEY,
                api_key_name TEXT NOT NULL,
                key_fingerprint TEXT NOT NULL,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL
            ) STRICT;
            CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
            CREATE INDEX console_sessions_key ON console_sessions (api_key_name, created_at);
            CREATE INDEX tasks_key_created ON tasks (api_key_name, created_at);
            """)
        // 11: videos of the OpenAI-compatible API (SPEC §18): what that API keeps of each, and
        // its deletion (the task stays for ops); a key's videos listed without walking its other tasks.
        m.add("""
            ALTER TABLE tasks ADD COLUMN openai_json TEXT;
            ALTER TABLE tasks ADD COLUMN deleted_at REAL;
            CREATE INDEX tasks_openai_key ON tasks (api_key_name, created_at, uuid) WHERE openai_json IS NOT NULL AND deleted_at IS NULL;
            CREATE INDEX tasks_openai ON tasks (created_at, uuid) WHERE openai_json IS NOT NULL AND deleted_at IS NULL;
            """)
        // 12: the media sweep's page (expired media, oldest first) read from an index of the
        // results that still hold media, not by scanning and sorting every result ever stored.
        m.add("""
            CREATE INDEX results_media_expiry ON results (expires_at, video_uuid) WHERE media_path IS NOT NULL;
            """)
        // 13: parked running tasks by when their next poll is due. `tasks_queue` holds them too,
        // but among every running task a worker holds, whose due times have passed: a claim
        // stepped through all of those to find the one that is parked. (The condition is
        // `SQLiteTaskStore.parked` word for word, written out: a migration never changes.)
        m.add("""
            CREATE INDEX tasks_parked ON tasks (next_attempt_at) WHERE state = 'running' AND lease_owner IS NULL;
            """)
        // 14: a task's results found by the task's sequence number, not its UUID. Clients choose
        // UUIDs at random, so every submit put its result's `(task_uuid, idx)` entry on a random
        // page of that index: one more page in the WAL and its fsync for every task (a submit
        // load did 5.7-6.8k tasks/s with it, 7.2-8.0k without). Sequence numbers only grow, so
        // a batch of submits fills the same last page. `task_uuid` stays, for joins to the task.
        // `seq` is NOT NULL with a default, so an insert that forgot it fails on the unique index
        // (the second time) instead of leaving a task whose results cannot be found. A result
        // whose task row is gone (only a hand edit with foreign keys off can leave one) has no
        // number to take: the migration stops and says so, rather than drop it and its media.
        m.add { db in
            let orphans = try db.scalar("SELECT count(*) FROM results WHERE task_uuid NOT IN (SELECT uuid FROM tasks)").int ?? 0
            guard orphans == 0 else {
                throw SQLiteError(
                    code: 19,  // SQLITE_CONSTRAINT
                    message: "schema migration 14 stopped: \(orphans) results belong to no task (rows deleted by hand with foreign keys off); "
                        + "remove those results and their media files, then start again")
            }
            try db.execute("""
                ALTER TABLE tasks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                UPDATE tasks SET seq = rowid;
                CREATE UNIQUE INDEX tasks_seq ON tasks (seq);
                CREATE TABLE results_by_seq (
                    video_uuid TEXT PRIMARY KEY,
                    task_uuid TEXT NOT NULL REFERENCES tasks (uuid),
                    task_seq INTEGER NOT NULL,
                    idx INTEGER NOT NULL,
                    seed INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    progress INTEGER NOT NULL DEFAULT 0,
                    format TEXT NOT NULL,
                    media_path TEXT,
                    media_bytes INTEGER,
                    ready_at REAL,
                    expires_at REAL,
                    cost REAL,
                    error_code TEXT,
                    error_message TEXT,
                    UNIQUE (task_seq, idx)
                ) STRICT;
                INSERT INTO results_by_seq (video_uuid, task_uuid, task_seq, idx, seed, state, progress, format, media_path, media_bytes,
                                            ready_at, expires_at, cost, error_code, error_message)
                    SELECT r.video_uuid, r.task_uuid, t.seq, r.idx, r.seed, r.state, r.progress, r.format, r.media_path, r.media_bytes,
                           r.ready_at, r.expires_at, r.cost, r.error_code, r.error_message
                    FROM results r JOIN tasks t ON t.uuid = r.task_uuid;
                DROP TABLE results;
                ALTER TABLE results_by_seq RENAME TO results;
                CREATE INDEX results_media_expiry ON results (expires_at, video_uuid) WHERE media_path IS NOT NULL;
                """)
        }
        // 15: the tasks that extend a video, for its lineage (SPEC §9): without it every lineage
        // read built a temporary index over all tasks. Only tasks with a parent are in it, so
        // submits of new videos do not write to it.
        m.add("""
            CREATE INDEX tasks_children ON tasks (parent_video_uuid) WHERE parent_video_uuid IS NOT NULL;
            """)
        return m
    }
}
