import Foundation
import Postgres
import TestSupport
import Testing

/// The libpq wrapper against a real PostgreSQL: the throwaway cluster `make test` starts
/// (Tests/support/with-postgres.sh) and names in REELGATE_TEST_DATABASE_URL.
let testDatabaseURL = PostgresTestDatabase.serverURL

@Suite(.enabled(if: testDatabaseURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct PostgresConnectionTests {
    static var url: PostgresURL? { testDatabaseURL }

    /// A connection with a schema of its own, dropped at the end.
    func withSchema(_ body: (PostgresConnection) throws -> Void) throws {
        let connection = try PostgresConnection(Self.url!)
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try connection.execute("CREATE SCHEMA \(schema)")
        try connection.execute("SET search_path TO \(schema)")
        defer { _ = try? connection.execute("DROP SCHEMA \(schema) CASCADE") }
        try body(connection)
    }

    @Test func parametersRoundTripWithNullsAndUnicode() throws {
        try withSchema { db in
            try db.execute("CREATE TABLE t (id text PRIMARY KEY, n bigint, x double precision, ok boolean, note text)")
            let hostile = "'); DROP TABLE t; -- κόσμε 😀"
            try db.execute("INSERT INTO t VALUES ($1, $2, $3, $4, $5)", ["a", "42", "0.5", "true", hostile])
            try db.execute("INSERT INTO t VALUES ($1, $2, $3, $4, $5)", ["b", nil, nil, nil, nil])
            let rows = try db.execute("SELECT * FROM t ORDER BY id").allRows
            #expect(rows.count == 2)
            #expect(try rows[0].int("n") == 42 && rows[0].double("x") == 0.5 && rows[0].bool("ok") == true)
            #expect(try rows[0].string("note") == hostile, "bound as a value, never as SQL")
            #expect(try rows[1].int("n") == nil && rows[1].string("note") == nil)
            #expect(throws: PostgresError.self) { try rows[0].int("note") }
        }
    }

    @Test func preparedStatementsAndAffectedRows() throws {
        try withSchema { db in
            try db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            for i in 0..<5 { try db.execute(prepared: "insert_t", "INSERT INTO t VALUES ($1, $2)", ["\(i)", "v\(i)"]) }
            #expect(try db.execute(prepared: "update_t", "UPDATE t SET v = $1 WHERE id < $2", ["w", "3"]).affectedRows == 3)
            #expect(try db.execute("SELECT count(*) AS c FROM t WHERE v = 'w'").row(0).int("c") == 3)
        }
    }

    /// A newer instance adds a column: a statement prepared before still runs (prepared again).
    @Test func aPreparedStatementSurvivesASchemaChange() throws {
        try withSchema { db in
            try db.execute("CREATE TABLE t (id int)")
            try db.execute("INSERT INTO t VALUES (1)")
            #expect(try db.execute(prepared: "all_t", "SELECT * FROM t").columns == ["id"])
            try PostgresConnection(Self.url!).execute("ALTER TABLE \(try db.execute("SELECT current_schema() AS s").row(0).string("s") ?? "").t ADD COLUMN note text")
            #expect(try db.execute(prepared: "all_t", "SELECT * FROM t").columns == ["id", "note"])
        }
    }

    @Test func aUniqueViolationIsTypedAndATransactionRollsBack() throws {
        try withSchema { db in
            try db.execute("CREATE TABLE t (id text PRIMARY KEY)")
            try db.execute("INSERT INTO t VALUES ($1)", ["x"])
            let duplicate = #expect(throws: PostgresError.self) { try db.execute("INSERT INTO t VALUES ($1)", ["x"]) }
            #expect(duplicate?.isUniqueViolation == true && duplicate?.kind == .statement)
            #expect(throws: PostgresError.self) {
                try db.transaction { (db: PostgresConnection) throws(PostgresError) in
                    try db.execute("INSERT INTO t VALUES ($1)", ["y"])
                    try db.execute("INSERT INTO t VALUES ($1)", ["x"])
                }
            }
            #expect(try db.execute("SELECT count(*) AS c FROM t").row(0).int("c") == 1, "y was rolled back")
        }
    }

    @Test func notificationsArrive() throws {
        let listener = try PostgresConnection(Self.url!)
        let sender = try PostgresConnection(Self.url!)
        try listener.execute("LISTEN reelgate_test")
        try sender.execute("SELECT pg_notify('reelgate_test', $1)", ["task-1"])
        var received: [(channel: String, payload: String)] = []
        for _ in 0..<500 where received.isEmpty {
            var poll = pollfd(fd: listener.socket, events: Int16(POLLIN), revents: 0)
            _ = Glibc.poll(&poll, 1, 10)  // waits on the socket for the notification, 10 ms at a time
            received += try listener.notifications()
        }
        #expect(received.first?.channel == "reelgate_test" && received.first?.payload == "task-1")
    }

    /// A wrong password fails with a connection error that does not contain it.
    @Test func theWrongPasswordIsNeverEchoed() throws {
        let real = Self.url!.conninfo
        let secret = "not-the-password-\(UUID().uuidString)"
        let wrong = real.replacingOccurrences(of: Self.url!.password!, with: secret)
        let error = #expect(throws: PostgresError.self) { try PostgresConnection(PostgresURL(wrong)) }
        #expect(error?.kind == .connection)
        #expect(!String(describing: error).contains(secret))
    }
}

@Suite struct PostgresURLTests {
    @Test(arguments: [
        ("postgres://app:s3cr%40t@db.internal:5432/reelgate?sslmode=require", "postgres://app:***@db.internal:5432/reelgate?sslmode=require"),
        ("postgresql://app:pw@[::1]/db", "postgresql://app:***@[::1]/db"),
        ("postgres://app@db/x?password=hunter22&sslmode=disable", "postgres://app@db/x?password=***&sslmode=disable"),
        ("host=db user=app password=hunter22 dbname=x", "host=db user=app password=*** dbname=x"),
        // libpq's quoting: a backslash escapes a quote or a backslash.
        (#"host=db password = 'it\'s a \\ secret' dbname=x"#, "host=db password = *** dbname=x"),
        ("postgres://app@db/x", "postgres://app@db/x"),
        // Unencoded `@` or `?` in a password: masked whichever way the address is read.
        ("postgres://u:p@ss word@db.internal/x", "postgres://u:***@db.internal/x"),
        ("postgres://u:pa?ss@db.internal/x", "postgres://u:***@db.internal/x"),
        // Any whitespace separates keywords, as libpq reads them.
        ("host=db\npassword=hunter22\ndbname=x", "host=db\npassword=***\ndbname=x"),
        ("host=db\tpassword =\thunter22\r\ndbname=x", "host=db\tpassword =\t***\r\ndbname=x"),
        // libpq percent-decodes a query parameter's name.
        ("postgres://app@db/x?pass%77ord=hunter22&sslmode=disable", "postgres://app@db/x?pass%77ord=***&sslmode=disable"),
        ("postgres://app@db/x?sslmode=disable&%70%61ssword=hunter22", "postgres://app@db/x?sslmode=disable&%70%61ssword=***"),
    ])
    func passwordsAreMaskedInEveryForm(url: String, expected: String) {
        #expect(PostgresURL(url).redacted == expected)
        #expect("\(PostgresURL(url))" == expected)
    }

    @Test func aPercentEncodedPasswordParameterIsTheSecret() {
        #expect(PostgresURL("postgres://app@db/x?pass%77ord=hunter22").password == "hunter22")
    }

    @Test func everyPieceOfAPasswordWithAnAtIsASecret() {
        #expect(PostgresURL("postgres://u:first-part@second-part@db/x").secretPieces == ["first-part@second-part", "first-part", "second-part"])
    }

    @Test func recognisesPostgresAddresses() {
        #expect(PostgresURL.isPostgres("postgres://x/y") && PostgresURL.isPostgres("POSTGRESQL://x") && PostgresURL.isPostgres("host=a dbname=b"))
        #expect(!PostgresURL.isPostgres("/var/lib/reelgate/reelgate.db"))
    }
}

/// Array parameters carry any text through `unnest` unchanged.
@Suite(.enabled(if: testDatabaseURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)"))
struct PostgresArrayTests {
    @Test func anyTextRoundTripsThroughAnArrayParameter() throws {
        let database = try PostgresTestDatabase()
        defer { database.drop() }
        let db = try PostgresConnection(database.url)
        defer { db.close() }
        let values: [String?] = ["plain", "with,comma", "{braces}", "quote\"d", "back\\slash", "NULL", "", " spaced ", "ünïcødé 🎬", "new\nline", nil]
        let result = try db.execute("SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS a(v, n) ORDER BY n", [try PostgresArray.literal(values)])
        #expect(try result.allRows.map { try $0.string("v") } == values)
        #expect(throws: PostgresError.self) { try PostgresArray.literal(["nul\0byte"]) }
    }
}
