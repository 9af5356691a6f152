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
        return m
    }
}
