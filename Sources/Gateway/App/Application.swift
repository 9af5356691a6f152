import Domain
import Foundation
import Glibc
import HTTP1
import HTTPServer
import SQLite

/// The running gateway: starts its parts in order and stops them in reverse.
///
/// Start: data directory → database (migrations) → routes → HTTP listener. Stop (SIGTERM/SIGINT):
/// readiness fails and the listener closes → in-flight requests finish within the grace period →
/// database closes → exit 0. Later layers (workers, delivery) slot in between store and server.
public final class Application: Sendable {
    public static let version = "0.1.0"

    public let configuration: Configuration
    public let logger: Logger
    let database: DatabasePool
    let server: HTTPServer
    let router: Router

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let address = try ListenAddress(parsing: configuration.listen)

        try FileManager.default.createDirectory(atPath: configuration.dataDir, withIntermediateDirectories: true)
        let dbPath = (configuration.dataDir as NSString).appendingPathComponent("reelgate.db")
        database = try DatabasePool(path: dbPath, readers: 2, migrator: Schema.migrator)
        try database.writeUnbatched { db in
            try db.execute(
                "INSERT INTO instance_starts (started_at, version) VALUES (?, ?)",
                [Date().timeIntervalSince1970, Application.version])
        }

        router = Router(notFound: { request in
            APIError.response(status: .notFound, code: "notFound", message: "no route for \(request.method) \(request.path)")
        })
        var serverConfig = ServerConfiguration(
            host: address.host, port: address.port,
            limits: ParserLimits(maxBodyBytes: configuration.server.maxBodyBytes),
            headTimeout: .seconds(configuration.server.headTimeoutSeconds),
            idleTimeout: .seconds(configuration.server.idleTimeoutSeconds),
            bodyTimeout: .seconds(configuration.server.bodyTimeoutSeconds),
            maxConnections: configuration.server.maxConnections)
        serverConfig.errorResponse = { status, code, message in
            APIError.response(status: status, code: code, message: message)
        }
        server = HTTPServer(configuration: serverConfig, responder: router)
        let server = self.server
        HealthRoutes.register(on: router, database: database, isDraining: { server.isDraining })
    }

    /// Binds and serves; prints the ready line `listening on http://HOST:PORT` to stdout.
    public func start() throws {
        try server.start()
        let address = try ListenAddress(parsing: configuration.listen)
        let url = "http://\(ListenAddress.urlHost(address.host)):\(server.port)"
        logger.info("listening", ["address": url, "version": Application.version, "dataDir": configuration.dataDir])
        writeStdout("listening on \(url)\n")
    }

    /// The bound port.
    public var port: Int { server.port }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    public func runUntilSignalled() async {
        let waiter = SignalWaiter(signals: [SIGTERM, SIGINT])
        let received = await waiter.wait()
        logger.info("draining", ["signal": received == SIGTERM ? "SIGTERM" : "SIGINT"])
        await shutdown()
    }

    /// Ordered shutdown: stop taking requests and let in-flight ones finish, then close the store.
    public func shutdown() async {
        await server.shutdown(gracePeriod: .seconds(configuration.server.shutdownGraceSeconds))
        logger.info("stopped")
    }

    private func writeStdout(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }
}
