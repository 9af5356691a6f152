/// The whole effective configuration (SPEC §11). Every key has a default, so an empty file (or
/// none) gives the embedded default: SQLite in `./data`, the simulator provider, loopback only.
public struct Configuration: Sendable, Equatable, Codable {
    public var listen: String = "127.0.0.1:8080"
    public var dataDir: String = "./data"
    /// The base URL clients use to reach us (media links); defaults to `http://<listen>`.
    public var publicURL: String?
    public var apiKeys: [APIKey] = []
    public var webhooks = Webhooks()
    public var network = Network()
    public var workers = Workers()
    public var providers = Providers()
    /// Inbound AIR model id → ordered provider routes.
    public var models: [String: [ModelRoute]] = [:]
    /// Model names clients of the OpenAI-compatible API send → AIR ids routed by `models`
    /// (SPEC §18). Set, it replaces this default whole.
    public var openaiModels: [String: String] = [
        "sora-2": "google:gemini@omni-flash", "sora-2-pro": "google:gemini@omni-flash",
        "gemini-omni-flash": "google:gemini@omni-flash", "reelgate-simulator": "reelgate:simulator@1",
    ]
    public var media = Media()
    public var server = Server()
    /// Where tasks are stored: SQLite in `dataDir` unless `url` names a PostgreSQL database.
    public var database = Database()

    public init() {}

    public struct APIKey: Sendable, Equatable, Codable {
        public var name: String
        public var key: String
        public var role: Role
        /// Tasks this key may submit per minute (token bucket); unlimited when absent.
        public var tasksPerMinute: Int?
        /// Unfinished tasks this key may have at once; unlimited when absent.
        public var maxInFlight: Int?
        public init(name: String, key: String, role: Role, tasksPerMinute: Int? = nil, maxInFlight: Int? = nil) {
            self.name = name
            self.key = key
            self.role = role
            self.tasksPerMinute = tasksPerMinute
            self.maxInFlight = maxInFlight
        }
    }

    public enum Role: String, Sendable, Equatable, Codable {
        /// Submits tasks and sees only its own.
        case client
        /// Sees and repairs every task.
        case ops
    }

    public struct Webhooks: Sendable, Equatable, Codable {
        /// Standard Webhooks signing secret (`whsec_…` base64, or raw text); unsigned when absent.
        public var secret: String?
        /// Seconds to wait before each retry after the first attempt.
        public var retrySchedule: [Double] = [1, 2, 4]
        public var timeoutSeconds: Double = 10
        /// Deliveries (uploads and webhooks) in flight at once, on transfer threads of their own:
        /// upstream calls never wait behind a slow receiver.
        public var concurrency = 32
        /// Deliveries of one API key's tasks in flight at once, so one tenant's slow receivers
        /// cannot take every delivery slot.
        public var maxConcurrentPerKey = 16
        /// Deliveries to one target host in flight at once.
        public var maxConcurrentPerHost = 16
        /// An upload may take `uploadTimeoutSeconds` plus its size at `uploadMinBytesPerSecond`.
        public var uploadTimeoutSeconds: Double = 60
        public var uploadMinBytesPerSecond = 256 * 1024
        /// `redeliver` calls one key may make per minute, and the least time between two
        /// redeliveries of one task.
        public var redeliveriesPerKeyPerMinute = 30
        public var redeliveryIntervalSeconds: Double = 10
        public init() {}
    }

    public struct Network: Sendable, Equatable, Codable {
        /// Allow plain `http://` outbound URLs (tests, internal receivers).
        public var allowHTTP = false
        /// Hosts or CIDRs exempt from the private-address rule.
        public var allowHosts: [String] = []
        /// An HTTP proxy every outbound request goes through (`http://host:port`). Absent, the
        /// proxy environment variables are ignored: a proxy that resolves names itself would undo
        /// the address pinning of SPEC §7.
        public var egressProxy: String?
        public init() {}
    }

    public struct Workers: Sendable, Equatable, Codable {
        public var count = 8
        /// Threads doing outbound HTTP transfers.
        public var transferThreads = 8
        /// Backoff for retryable upstream faults: base and cap of the exponential, and attempts.
        public var retryBaseSeconds: Double = 1
        public var retryMaxSeconds: Double = 60
        public var maxAttempts = 8
        /// How long a claim on a task or a delivery lasts without renewal; the holder renews it
        /// every third of this while it works, and a crashed holder's work is taken over after it.
        public var leaseSeconds: Double = 30
        public init() {}
    }

    /// What one provider may be asked for (SPEC §8): jobs at once, requests per minute (a
    /// token bucket: tasks wait rather than provoke 429s), and when to stop calling it. In a file,
    /// a partial `limits` object changes only the keys it names; the rest keep that provider's
    /// own defaults.
    public struct ProviderLimits: Sendable, Equatable, Codable {
        public var maxConcurrent: Int
        public var requestsPerMinute: Int
        public var breakerThreshold = 5
        public var breakerCooldownSeconds: Double = 30
        public init(maxConcurrent: Int, requestsPerMinute: Int) {
            self.maxConcurrent = maxConcurrent
            self.requestsPerMinute = requestsPerMinute
        }
    }

    public struct ModelRoute: Sendable, Equatable, Codable {
        public var provider: String
        public var model: String
        public init(provider: String, model: String) {
            self.provider = provider
            self.model = model
        }
    }

    public struct Media: Sendable, Equatable, Codable {
        /// Where results and uploaded images are kept; unset, `dataDir/media`. With a shared
        /// database it must be storage every instance shares, mounted at the same path (SPEC §16).
        public var directory: String?
        /// Disk budget for stored results and uploaded images; new work is refused with 507 beyond it.
        public var maxBytes: Int64 = 10 << 30
        /// How long an `imageUpload` image is kept before the sweeper removes it.
        public var imageTTLSeconds: Double = 86_400
        /// `imageUpload` tasks in one request.
        public var maxImageUploadsPerRequest = 8
        /// Where results go once fetched: the media directory, or an S3-compatible bucket.
        public var store = MediaStoreSetting.local
        public init() {}
    }

    /// The media directory in effect.
    public var mediaDirectory: String { media.directory ?? (dataDir.hasSuffix("/") ? dataDir + "media" : dataDir + "/media") }

    /// The HTTP server's limits and timeouts (SPEC §12).
    public struct Database: Sendable, Equatable, Codable {
        /// `postgres://user:pass@host:port/db?sslmode=…` (or `postgresql://`, or libpq
        /// `key=value`): several gateways share it (SPEC §16). Absent: SQLite in `dataDir`.
        public var url: String?
        /// Connections this instance opens at most.
        public var poolSize = 8
        public init() {}
    }

    public struct Server: Sendable, Equatable, Codable {
        public var maxConnections = 1024
        /// Open connections from one client address; past it, that address gets 503. Unset, a
        /// quarter of `maxConnections`. Behind a reverse proxy every client is the proxy: set
        /// it to `maxConnections` there.
        public var maxConnectionsPerClient: Int?
        public var headTimeoutSeconds: Double = 10
        public var idleTimeoutSeconds: Double = 15
        /// Longest pause between two pieces of a request body.
        public var bodyTimeoutSeconds: Double = 30
        /// Longest a whole request body may take, however steadily it trickles.
        public var bodyDeadlineSeconds: Double = 300
        /// The slowest average rate a body may arrive at, counted from 5 s after it starts.
        public var minBodyBytesPerSecond = 4096
        public var maxBodyBytes = 25 * 1024 * 1024
        /// What is read of a `/v1` body before the caller's key is known (no `Authorization`
        /// header): enough for an authentication task and a few small tasks.
        public var unauthenticatedBodyBytes = 16 * 1024
        /// Request body bytes held in memory across all connections at once.
        public var maxBufferedBodyBytes = 256 * 1024 * 1024
        /// Tasks in one `POST /v1` request.
        public var maxTasksPerRequest = 100
        /// Inline video (`base64Data`/`dataURI`) in one response, before base64.
        public var maxInlineResponseBytes: Int64 = 256 * 1024 * 1024
        /// The stored form of one task (its request JSON, inline images included).
        public var maxStoredRequestBytes = 8 * 1024 * 1024
        /// How long in-flight requests may take to finish after SIGTERM.
        public var shutdownGraceSeconds: Double = 10
        /// The Runware WebSocket transport (SPEC §15).
        public var websocket = WebSocket()
        /// How long an ops console sign-in lasts (SPEC §17).
        public var consoleSessionSeconds: Double = 12 * 3600
        public init() {}

        public struct WebSocket: Sendable, Equatable, Codable {
            /// Largest reassembled message; unset, `server.maxBodyBytes` (what REST accepts).
            public var maxMessageBytes: Int?
            /// How long a session outlives its socket: a reconnect within it resumes the session
            /// and its subscriptions.
            public var sessionTTLSeconds: Double = 120
            /// A socket that sends nothing (pings included) for this long is closed.
            public var idleTimeoutSeconds: Double = 120
            public init() {}
        }

        /// `websocket.maxMessageBytes`, or its default.
        public var effectiveMaxMessageBytes: Int { websocket.maxMessageBytes ?? maxBodyBytes }

        /// `maxConnectionsPerClient`, or its default.
        public var effectiveMaxConnectionsPerClient: Int { maxConnectionsPerClient ?? max(1, maxConnections / 4) }
    }
}
