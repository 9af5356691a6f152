import Domain
import Foundation
import Gateway
import HTTP1
import SQLite
import TestSupport
import Synchronization
import Testing

/// An in-process gateway on port 0 with its own data directory and three keys.
final class TestGateway: @unchecked Sendable {
    static let opsKey = "ops-key-0123456789abcdef"
    static let alice = "alice-key-0123456789abcd"
    static let bob = "bob-key-0123456789abcdefg"

    let dir = TempDirectory()
    let app: Application
    var port: Int { app.port }

    /// Opening the database fsyncs; done off the cooperative pool so parallel tests do not starve it.
    /// - Parameter logFD: where the gateway's log lines go, at info level (a pipe a test reads);
    ///   errors only, to stderr, when nil.
    static func start(resolver: (any HostResolver)? = nil, logFD: Int32? = nil,
                      _ configure: @escaping @Sendable (inout Configuration) -> Void = { _ in }) async throws -> TestGateway {
        let gateway = try await BlockingIO.run { try TestGateway(resolver: resolver, logFD: logFD, configure) }
        GatewayScope.current?.add(gateway)  // stopped when the test ends, however it ends
        return gateway
    }

    private init(resolver: (any HostResolver)?, logFD: Int32?, _ configure: (inout Configuration) -> Void) throws {
        var config = Configuration()
        config.listen = "127.0.0.1:0"
        config.dataDir = dir.path
        config.apiKeys = [
            .init(name: "ops", key: TestGateway.opsKey, role: .ops), .init(name: "alice", key: TestGateway.alice, role: .client),
            .init(name: "bob", key: TestGateway.bob, role: .client),
        ]
        config.providers.simulator.latencySeconds = 0.3
        config.workers.count = 4
        // Far beyond any test's own pace unless the test is about them (as the HTTP server's tests
        // do): a loaded CI run can hold the suite's cooperative pool for seconds, and the
        // product's 10 s head deadline then closed connections a test had opened but not yet used.
        config.server.headTimeoutSeconds = 60
        config.server.idleTimeoutSeconds = 60
        configure(&config)
        // Info lines go to a file of the gateway's own (unless the test reads them): a task that
        // does not finish reports its lines from it, and errors reach stderr when it stops.
        if logFD == nil { ownLog = open(dir.file("gateway.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        // The logger owns its descriptor (its own copy of a test's), closed only when nothing can
        // log any more: closed at stop, its number could be another test's database file by the
        // time a late line is written (seen once: "file is not a database").
        let fd = logFD.map { dup($0) } ?? ownLog
        let logger = fd >= 0 ? Logger(minimum: .info, fd: fd, closesDescriptor: true) : Logger(minimum: .error)
        app = try Application(configuration: config, logger: logger, resolver: resolver)
        try app.start()
    }

    /// The descriptor of the gateway's own log file, or -1. Its logger closes it.
    private var ownLog: Int32 = -1

    /// The task's row as a connection opened now reads it (SQLite only): what the store holds,
    /// whatever the gateway's own reads (and their connections' snapshots) say.
    func storedRow(_ uuid: String) -> String {
        guard app.configuration.database.url == nil else { return "not SQLite" }
        do {
            let db = try Database(path: "\(dir.path)/reelgate.db", options: .init(readOnly: true))
            guard let row = try db.query(
                "SELECT state, updated_at, lease_owner, lease_expires_at, next_attempt_at, error_code FROM tasks WHERE uuid = ?", [uuid]).first
            else { return "no row" }
            return (0..<6).map { "\(row[$0])" }.joined(separator: " ")
        } catch {
            return "unreadable: \(error)"
        }
    }

    /// The process's open descriptors into this gateway's directory (`fd→target`, a
    /// "(deleted)" target included): the writer, checkpointer and readers each hold the
    /// database and its WAL, so a missing or stale one names a descriptor closed under SQLite.
    func openDescriptors() -> String { Self.openDescriptors(into: dir.path) }

    static func openDescriptors(into directory: String) -> String {
        // As the kernel names it: the temporary directory may be reached through a link.
        let path = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let held = entries.compactMap { entry -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)"),
                target.hasPrefix(path + "/") else { return nil }
            return "\(entry)→\(target.dropFirst(path.count))"
        }
        return held.sorted().joined(separator: " ")
    }

    /// The gateway's own log lines that contain `text` (the last `limit`).
    func logLines(containing text: String, limit: Int = 40) -> [String] {
        guard ownLog >= 0, let log = try? String(contentsOfFile: dir.file("gateway.log"), encoding: .utf8) else { return [] }
        return Array(log.split(separator: "\n").filter { $0.contains(text) }.suffix(limit).map(String.init))
    }

    private let stopped = Mutex(false)
    var isStopped: Bool { stopped.withLock { $0 } }

    /// Stops the gateway and removes its directory; once only (a test may stop it itself, and its
    /// scope stops it again at the end).
    func stop() async {
        guard !stopped.withLock({ was in defer { was = true }; return was }) else { return }
        await app.shutdown()
        for line in logLines(containing: #""level":"error""#, limit: 100) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        dir.remove()
    }

    struct Reply {
        let status: Int
        let body: JSONValue
        let headers: HTTPHeaders
        var data: [JSONValue] { body["data"]?.array ?? [] }
        var errors: [JSONValue] { body["errors"]?.array ?? [] }
    }

    func request(_ method: String, _ path: String, body: String? = nil, key: String? = TestGateway.alice, headers: [String] = []) async throws -> Reply {
        let client = try RawHTTPClient(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        if let key { head += "Authorization: Bearer \(key)\r\n" }
        for h in headers { head += h + "\r\n" }
        let bytes = Array((body ?? "").utf8)
        head += "Content-Length: \(bytes.count)\r\n\r\n"
        try await client.send(Array(head.utf8) + bytes)
        let response = try await client.readResponse()
        // Megabytes of inline video parsed on the suite's pool would hold a thread of it for
        // seconds in a debug build.
        let body = response.body
        let parsed = body.count > 256 << 10 ? try await OffPool.run { Self.parse(body) } : Self.parse(body)
        return Reply(status: response.status, body: parsed, headers: response.headers)
    }

    private static func parse(_ body: [UInt8]) -> JSONValue {
        (try? JSONParser.parse(body)) ?? .string(String(decoding: body, as: UTF8.self))
    }

    /// The raw bytes at `path` (for media). A media GET may wait on a bucket (moto, in Python,
    /// shares two cores with the whole suite): 30 s before the read counts as hung, not 10.
    func fetch(_ path: String) async throws -> RawResponse {
        let client = try RawHTTPClient(port: port, readTimeout: 30)
        try await client.send("GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        return try await client.readResponse()
    }

    func post(_ tasks: JSONValue, key: String? = TestGateway.alice) async throws -> Reply {
        try await request("POST", "/v1", body: tasks.serialized(), key: key)
    }

    func submit(_ extra: [String: JSONValue] = [:], uuid: String = UUID().uuidString.lowercased(), key: String = TestGateway.alice) async throws -> (String, Reply) {
        var task: [String: JSONValue] = ["taskType": "videoInference", "taskUUID": .string(uuid), "model": "reelgate:simulator@1",
                                         "positivePrompt": "a lighthouse at dusk"]
        task.merge(extra) { $1 }
        return (uuid, try await post([.object(task)], key: key))
    }

    func getResponse(_ uuid: String, key: String = TestGateway.alice) async throws -> Reply {
        try await post([["taskType": "getResponse", "taskUUID": .string(uuid)]], key: key)
    }

    /// Polls getResponse (as clients do) until no item is processing; fails the test after
    /// `timeout`, a bound for a hung task, not a speed check: with the whole suite sharing two
    /// cores, a CI run has seen a two-result Gemini task take 28 s that takes 1.6 s alone.
    func waitUntilDone(_ uuid: String, key: String = TestGateway.alice, timeout: Double = 60) async throws -> Reply {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let reply = try await getResponse(uuid, key: key)
            if !reply.data.contains(where: { $0["status"]?.string == "processing" }) { return reply }
            try await Task.sleep(for: .milliseconds(50))
        }
        // What the ops view says is what tells a slow machine from a stuck task; the upstream
        // call counters say whether its worker still calls out (a task stuck between two store
        // writes leaves no other trace).
        let view = try? await request("GET", "/v1/tasks/\(uuid)", key: TestGateway.opsKey)
        let calls = (try? await fetch("/metrics")).map { metrics in
            String(decoding: metrics.body, as: UTF8.self).split(separator: "\n")
                .filter { $0.hasPrefix("reelgate_upstream_calls_total") || $0.hasPrefix("reelgate_provider_") || $0.hasPrefix("reelgate_store") }
                .joined(separator: "; ")
        }
        // Whether the store still acknowledges a durable write (a submit waits for its commit's
        // fsync), which tells a stalled writer from a stalled worker.
        let probeStart = Date()
        let probe: String
        do {
            let reply = try await submit()
            let probeRow = (try? await OffPool.run { [self] in storedRow(reply.0) }) ?? "unavailable"
            probe = "a new submit answered \(reply.1.status) in \(String(format: "%.2f", Date().timeIntervalSince(probeStart))) s"
                + " and its row read anew is: \(probeRow)"
        } catch {
            probe = "a new submit failed after \(String(format: "%.2f", Date().timeIntervalSince(probeStart))) s: \(error)"
        }
        // Opening a database blocks: off the suite's pool.
        let row = (try? await OffPool.run { [self] in storedRow(uuid) }) ?? "unavailable"
        let stacks = try? await OffPool.run { PoolWatchdog.dumpAllStacks(label: uuid) }
        throw ProcessError("task \(uuid) did not finish in \(timeout) s; its ops view: \(view.map { "\($0.status) \($0.body.serialized())" } ?? "unavailable")"
            + "; its row read anew: \(row); descriptors into its directory: \(openDescriptors()); metrics: \(calls ?? "unavailable"); \(probe); its log: \(logLines(containing: uuid).joined(separator: "\n"))"
            + (stacks.flatMap { $0 }.map { "; every thread's stack: \($0)" } ?? ""))
    }
}
