import CMalloc
import Crypto
import Curl
import Domain
import Store
import Foundation
import Glibc
import HTTP1
import HTTPServer
import SQLiteStore
import Postgres
import PostgresStore
import Synchronization

/// The running gateway: starts its parts in order and stops them in reverse.
///
/// Start: data directory → database (migrations) → routes → HTTP listener. Stop (SIGTERM/SIGINT):
/// readiness fails and the listener closes → in-flight requests finish within the grace period →
/// database closes → exit 0. Later layers (workers, delivery) slot in between store and server.
public final class Application: Sendable {
    public static let version = "0.1.0"

    public let configuration: Configuration
    public let logger: Logger
    let server: HTTPServer
    public let router: Router
    public let store: any TaskStore
    let media: MediaStore
    let workers: WorkerPool
    public let janitor: MediaJanitor
    public let urlGuard: URLGuard
    let curl: CurlClient
    /// The s3 media store's transfers, if there is one.
    let objectCurl: CurlClient?
    let deliveryCurl: CurlClient
    public let metrics = Metrics()
    let deliveries: DeliveryWorker
    let sessions: WebSocketSessions
    private let deliveryTask = Mutex<Task<Void, Never>?>(nil)
    let publicURL = PublicURL("")
    let dataDirLock: DataDirectoryLock
    private let workerTask = Mutex<Task<Void, Never>?>(nil)
    private let sweeperTask = Mutex<Task<Void, Never>?>(nil)

    /// - Parameter resolver: how outbound host names resolve (tests inject one to rebind DNS).
    public init(configuration: Configuration, logger: Logger, resolver: (any HostResolver)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        let address = try ListenAddress(parsing: configuration.listen)

        // Everything this process writes is its own: the data dir 0700, files 0600, whatever
        // umask it was started with (tasks, keys' media and the signing key live there).
        umask(0o077)
        try FileManager.default.createDirectory(atPath: configuration.dataDir, withIntermediateDirectories: true)
        try PrivateFiles.restrict(directory: configuration.dataDir)
        dataDirLock = try DataDirectoryLock(directory: configuration.dataDir)
        let dbPath = (configuration.dataDir as NSString).appendingPathComponent("reelgate.db")
        // SQLite in the data dir, or a PostgreSQL database several instances share (SPEC §16).
        let sharedDatabase = configuration.database.url.map(PostgresURL.init)
        if let sharedDatabase {
            store = try PostgresTaskStore(url: sharedDatabase, poolSize: configuration.database.poolSize)
        } else {
            store = try SQLiteTaskStore(path: dbPath, readers: 2)
        }
        try PrivateFiles.restrict(directory: configuration.dataDir)

        let authenticator = Authenticator(keys: configuration.apiKeys)
        let admission = RequestAdmission(authenticator: authenticator, unauthenticatedBodyBytes: configuration.server.unauthenticatedBodyBytes)
        let routes = RouterBuilder(
            defaultAdmission: admission.otherRoutes, render: APIError.renderServerError, observer: HTTPObserver(metrics: metrics, logger: logger))
        var serverConfig = ServerConfiguration(
            host: address.host, port: address.port,
            limits: ParserLimits(maxBodyBytes: configuration.server.maxBodyBytes),
            headTimeout: .seconds(configuration.server.headTimeoutSeconds),
            idleTimeout: .seconds(configuration.server.idleTimeoutSeconds),
            bodyTimeout: .seconds(configuration.server.bodyTimeoutSeconds),
            bodyDeadline: .seconds(configuration.server.bodyDeadlineSeconds),
            minimumBodyBytesPerSecond: configuration.server.minBodyBytesPerSecond,
            maxBufferedBodyBytes: configuration.server.maxBufferedBodyBytes,
            maxConnectionsPerClient: configuration.server.effectiveMaxConnectionsPerClient,
            maxConnections: configuration.server.maxConnections)
        serverConfig.render = APIError.renderServerError
        // The server is made last, once the router is built; readiness asks it through this. Weak:
        // the server holds the routes that hold it (a stopped gateway would never be released).
        let serverReference = Mutex(WeakServer())
        try store.recordStart(version: Application.version)
        let store = self.store
        HealthRoutes.register(on: routes, logger: logger, checkWritable: { try await store.checkWritable() },
                              isDraining: { serverReference.withLock { $0.server?.isDraining ?? true } })

        // Alone on its data dir (the lock), a SQLite instance takes back every lease a previous run
        // held; with a shared database the other instances' leases are live and simply expire.
        if sharedDatabase == nil {
            let released = try store.releaseAllLeases()
            if released > 0 { logger.info("resuming tasks a previous run held", ["tasks": "\(released)"]) }
        }
        let signingKey = try store.setting("media.signingKey") { Crypto.hex(Crypto.randomBytes(32)) }
        // An s3 media store has transfer threads of its own: an upload of a large result never
        // waits behind upstream calls, nor the other way round. Its endpoint is the operator's
        // (an internal MinIO is normal), so no egress proxy and no §7 URL rules apply to it.
        let transferThreads = max(4, configuration.workers.transferThreads)
        let objectCurl = configuration.media.store.objectStore.map { _ in CurlClient(threads: transferThreads, name: "objects") }
        self.objectCurl = objectCurl
        let objects = try configuration.media.store.objectStore.map { try ObjectMedia(settings: $0, curl: objectCurl!) }
        media = try MediaStore(directory: configuration.mediaDirectory, publicURL: publicURL, key: Array(signingKey.utf8), objects: objects)
        // Several instances must share their media: refuse to start on a directory that is not.
        // (With an s3 store results and uploaded images are in the bucket; the directory holds
        // only this instance's scratch files.)
        if sharedDatabase != nil, objects == nil { try SharedMediaCheck.verify(directory: configuration.mediaDirectory, store: store) }
        // Alone on its media, an instance removes what a crash left half-written; with a shared
        // database the media directory is shared too, and those may be another instance's
        // downloads in progress.
        if sharedDatabase == nil { media.removeLeftoverPartials() }

        let urlGuard = URLGuard(
            allowHTTP: configuration.network.allowHTTP, allowHosts: configuration.network.allowHosts, resolver: resolver ?? SystemResolver())
        self.urlGuard = urlGuard
        let curl = CurlClient(threads: configuration.workers.transferThreads, proxy: configuration.network.egressProxy, name: "upstream")
        self.curl = curl
        let providerEntries = try ProviderRegistry.build(
            ProviderContext(configuration: configuration, curl: curl, urlGuard: urlGuard, store: store, media: media))
        let modelRouter = ModelRouter.make(configuration: configuration, entries: providerEntries) { logger.info("route", ["detail": $0]) }

        var deliverySettings = DeliveryWorker.Settings()
        deliverySettings.concurrency = configuration.webhooks.concurrency
        deliverySettings.maxPerKey = configuration.webhooks.maxConcurrentPerKey
        deliverySettings.maxPerHost = configuration.webhooks.maxConcurrentPerHost
        deliverySettings.leaseSeconds = configuration.workers.leaseSeconds
        deliverySettings.uploadTimeoutSeconds = configuration.webhooks.uploadTimeoutSeconds
        deliverySettings.uploadMinBytesPerSecond = configuration.webhooks.uploadMinBytesPerSecond
        deliverySettings.retrySchedule = configuration.webhooks.retrySchedule
        deliverySettings.webhookTimeout = configuration.webhooks.timeoutSeconds
        deliverySettings.spoolDirectory = "\(configuration.dataDir)/spool"
        // With a shared database new work comes by NOTIFY and this instance's own retries wake it
        // at their time; the fallback poll (for what another instance or a crashed run left due)
        // is every 10 s, so an idle instance makes under one statement a second.
        if sharedDatabase != nil { deliverySettings.idlePollSeconds = 10 }
        // Webhook bodies spooled by an earlier run are never sent from there: attempts spool anew.
        try? FileManager.default.removeItem(atPath: deliverySettings.spoolDirectory)
        try FileManager.default.createDirectory(atPath: deliverySettings.spoolDirectory, withIntermediateDirectories: true)
        // Deliveries have transfer threads of their own, as many as may be in flight: a slow
        // receiver never makes an upstream call wait, nor the other way round.
        deliveryCurl = CurlClient(threads: configuration.webhooks.concurrency, proxy: configuration.network.egressProxy, name: "delivery")
        deliveries = DeliveryWorker(
            store: store, media: media, urlGuard: urlGuard, curl: deliveryCurl, signer: configuration.webhooks.secret.map(WebhookSigner.init),
            settings: deliverySettings, logger: logger, metrics: metrics)
        janitor = try MediaJanitor(store: store, maxBytes: configuration.media.maxBytes, logger: logger, objects: media.objects)
        var settings = WorkerPool.Settings()
        settings.workers = configuration.workers.count
        settings.leaseSeconds = configuration.workers.leaseSeconds
        if sharedDatabase != nil { settings.idlePollSeconds = 10 }
        settings.retry = RetryPolicy(
            base: configuration.workers.retryBaseSeconds, cap: configuration.workers.retryMaxSeconds, maxAttempts: configuration.workers.maxAttempts)
        let metrics = self.metrics
        // Every provider runs under its limits: a gate each, from its registration; with a shared
        // database the limits are kept there, for every instance together.
        let sharedQuotas = sharedDatabase == nil ? nil : store as? any ProviderQuotaStore
        let gates = Dictionary(uniqueKeysWithValues: providerEntries.map {
            ($0.provider.name, ProviderGate(name: $0.provider.name, limits: $0.limits, metrics: metrics, shared: sharedQuotas))
        })
        let janitor = self.janitor
        let deliveries = self.deliveries
        let sessions = WebSocketSessions(
            ttl: configuration.server.websocket.sessionTTLSeconds, maxDetached: max(10_000, 4 * configuration.server.maxConnections))
        self.sessions = sessions
        workers = WorkerPool(store: store, media: media, router: modelRouter, settings: settings, logger: logger, gates: gates, metrics: metrics,
                             opsKeys: Set(configuration.apiKeys.filter { $0.role == .ops }.map(\.name)),
                             onStored: { janitor.stored(bytes: $0) }, onDeliveries: { deliveries.notifyNewWork() },
                             onFinished: { [sessions] in sessions.taskFinished($0) })

        let reserved = ProviderRegistry.all.compactMap(\.reservedSettings)
        let validator = VideoInferenceValidator(
            knownModels: modelRouter.models, reservedProviderSettings: Dictionary(uniqueKeysWithValues: reserved.map { ($0.section, $0.fields) })
        ) { url, parameter in
            do throws(URLRefusal) {
                _ = try urlGuard.parse(url)
                return nil
            } catch let refusal {
                return URLGuard.apiError(refusal, parameter: parameter)
            }
        }
        let limits = TaskAPI.Limits(
            maxTasksPerRequest: configuration.server.maxTasksPerRequest, maxStoredRequestBytes: configuration.server.maxStoredRequestBytes,
            maxInlineResponseBytes: configuration.server.maxInlineResponseBytes,
            maxImageUploadsPerRequest: configuration.media.maxImageUploadsPerRequest, imageTTLSeconds: configuration.media.imageTTLSeconds)
        let taskAPI = TaskAPI(store: store, media: media, authenticator: authenticator, validator: validator, workers: workers,
                              logger: logger, keys: configuration.apiKeys, janitor: janitor, urlGuard: urlGuard,
                              limits: limits)
        taskAPI.register(on: routes, admission: admission)
        var socketSettings = RunwareWebSocketEndpoint.Settings()
        socketSettings.maxMessageBytes = configuration.server.effectiveMaxMessageBytes
        socketSettings.unauthenticatedMessageBytes = configuration.server.unauthenticatedBodyBytes
        socketSettings.idleTimeout = .seconds(configuration.server.websocket.idleTimeoutSeconds)
        socketSettings.authenticationTimeout = .seconds(configuration.server.headTimeoutSeconds)
        socketSettings.messageDeadline = .seconds(configuration.server.bodyDeadlineSeconds)
        let socketEndpoint = RunwareWebSocketEndpoint(
            api: taskAPI, sessions: sessions, authenticator: authenticator, settings: socketSettings, logger: logger, metrics: metrics)
        socketEndpoint.register(on: routes)
        MediaRoutes.register(on: routes, media: media, clock: { Date().timeIntervalSince1970 })
        OpenAPIDocument.register(on: routes)
        MetricsRoute.register(on: routes, metrics: metrics, store: store, gates: gates, janitor: janitor, dbPath: dbPath, sockets: socketEndpoint)
        let publicURL = self.publicURL
        let consoleSessions = ConsoleSessions(
            store: store, authenticator: authenticator, lifetime: configuration.server.consoleSessionSeconds,
            secure: { publicURL.current.lowercased().hasPrefix("https://") }, clock: { Date().timeIntervalSince1970 })
        let identity = CallerIdentity(authenticator: authenticator, sessions: consoleSessions)
        ConsoleRoutes(sessions: consoleSessions).register(on: routes)
        OverviewRoutes(store: store, identity: identity, gates: gates, clock: { Date().timeIntervalSince1970 }).register(on: routes)
        // The OpenAI-compatible API routes its model names to models the router knows.
        for (name, air) in configuration.openaiModels.sorted(by: { $0.key < $1.key }) where !modelRouter.models.contains(air) {
            throw ConfigurationError("openaiModels.\(name) names \(air), which no route in models serves")
        }
        let canceller = TaskCanceller(store: store, router: modelRouter, workers: workers)
        OpenAIVideoRoutes(store: store, media: media, janitor: janitor, authenticator: authenticator, taskAPI: taskAPI,
                          canceller: canceller, models: configuration.openaiModels,
                          logger: logger)
            .register(on: routes, admission: admission)
        OpsRoutes(store: store, media: media, identity: identity, canceller: canceller, deliveries: deliveries,
                  redeliveries: RedeliveryLimiter(perKeyPerMinute: configuration.webhooks.redeliveriesPerKeyPerMinute,
                                                  taskInterval: configuration.webhooks.redeliveryIntervalSeconds))
            .register(on: routes)
        // Another instance's submits and deliveries wake this one's workers (a shared database).
        if let notifying = store as? any WorkNotifying {
            notifying.listenForWork { [workers, deliveries] work in
                switch work {
                // One worker: each that finds work wakes one more, as many as there is work for.
                case .tasks: workers.notifyNewWork(count: 1)
                case .deliveries: deliveries.notifyNewWork()
                }
            }
        }
        router = routes.build()
        server = HTTPServer(configuration: serverConfig, responder: router)
        serverReference.withLock { $0.server = server }
    }

    /// Binds and serves; prints the ready line `listening on http://HOST:PORT` to stdout.
    public func start() throws {
        try server.start()
        let address = try ListenAddress(parsing: configuration.listen)
        let url = "http://\(ListenAddress.urlHost(address.host)):\(server.port)"
        publicURL.set(configuration.publicURL ?? url)
        let workers = self.workers
        workerTask.withLock { $0 = Task.detached { await workers.run() } }
        let deliveries = self.deliveries
        deliveryTask.withLock { $0 = Task.detached { await deliveries.run() } }
        let janitor = self.janitor
        let sessions = self.sessions
        let logger = self.logger
        let alone = configuration.database.url == nil
        sweeperTask.withLock {
            $0 = Task.detached {
                await withDiscardingTaskGroup { group in
                    group.addTask { await janitor.run(interval: 60, alone: alone) }
                    group.addTask {
                        // Sessions detached longer than their TTL are forgotten.
                        var openedAtLastTrim = 0
                        while true {
                            do { try await Task.sleep(for: .seconds(10)) } catch { return }
                            let expired = sessions.sweep(now: Date().timeIntervalSince1970)
                            if expired > 0 { logger.info("websocket sessions expired", ["sessions": "\(expired)"]) }
                            // After a burst of sessions opened or expired, the memory their
                            // handshakes used is given back to the system, not kept resident
                            // between the objects that stayed (malloc only returns the top of
                            // its heaps by itself). Not on every pass: a trim walks every heap.
                            let opened = sessions.openedCount
                            if opened - openedAtLastTrim >= 1000 || expired >= 1000 {
                                openedAtLastTrim = opened
                                _ = cmalloc_trim()
                            }
                        }
                    }
                }
            }
        }
        logger.info("listening", ["address": url, "version": Application.version, "dataDir": configuration.dataDir])
        writeStdout("listening on \(url)\n")
    }

    /// The bound port.
    public var port: Int { server.port }
    /// True from the start of shutdown: the listener is closed and readiness fails.
    public var isDraining: Bool { server.isDraining }

    /// Serves until `signals` has one (SIGTERM or SIGINT; at once if one came while starting),
    /// then shuts down gracefully.
    func run(until signals: SignalWaiter) async {
        let received = await signals.wait()
        logger.info("draining", ["signal": received == SIGTERM ? "SIGTERM" : "SIGINT"])
        await shutdown()
    }

    /// Ordered shutdown: stop taking requests and let in-flight ones finish, then close the store.
    public func shutdown() async {
        await server.shutdown(gracePeriod: .seconds(configuration.server.shutdownGraceSeconds))
        // Workers stop claiming; those mid-task give their leases back for the next start. The
        // sweepers stop too, and are waited for like the rest: nothing touches the store after.
        for task in [sweeperTask.withLock({ $0 }), workerTask.withLock({ $0 }), deliveryTask.withLock({ $0 })].compactMap({ $0 }) {
            task.cancel()
            await task.value
        }
        (store as? any WorkNotifying)?.stopListening()
        curl.shutdown()
        deliveryCurl.shutdown()
        objectCurl?.shutdown()
        dataDirLock.release()
        logger.info("stopped")
    }

    /// The server, for a route it serves.
    private struct WeakServer {
        weak var server: HTTPServer?
    }

    private func writeStdout(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }
}
