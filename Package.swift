// swift-tools-version:6.0
// reelgate: a self-hosted gateway for AI video generation.
// No Swift package dependencies: the toolchain plus libcurl, SQLite, libcrypto and libpq.
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "reelgate",
    products: [
        .executable(name: "reelgate", targets: ["reelgate"]),
    ],
    targets: [
        // System libraries, each with typed static-inline shims for what Swift cannot call.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // epoll and eventfd from libc, which Glibc's Swift module does not expose.
        .systemLibrary(name: "CEpoll"),
        .systemLibrary(name: "CThreads"),
        // glibc's malloc_trim, to give memory freed after a burst back to the system.
        .systemLibrary(name: "CMalloc"),
        // libcrypto initialised before `main`, without the exit-time cleanup that frees its state
        // under threads still using it (a constructor in C: the first initialisation decides).
        .target(name: "CCryptoSetup", dependencies: ["CCrypto"]),

        // Layer 1: pure HTTP/1.1 protocol code. Bytes in, requests out; no sockets.
        .target(name: "HTTP1", swiftSettings: strict),
        // Layer 1: pure WebSocket protocol code (RFC 6455): handshake, frames, UTF-8. No sockets.
        .target(name: "WebSocket", dependencies: ["HTTP1"], swiftSettings: strict),
        // Layer 1: pure multipart/form-data (RFC 7578): pieces of a body in, part events out.
        .target(name: "Multipart", swiftSettings: strict),
        // Layer 2: the socket server: epoll event loops, connections, router.
        .target(name: "HTTPServer", dependencies: ["HTTP1", "CEpoll", "CThreads"], swiftSettings: strict),
        // Layer 3: thin wrappers over the C libraries.
        // Group-committed fsyncs, for the SQLite WAL and the media directory.
        .target(name: "FileSync", swiftSettings: strict),
        .target(name: "SQLite", dependencies: ["CSQLite", "FileSync"], swiftSettings: strict),
        .target(name: "Curl", dependencies: ["CCurl"], swiftSettings: strict),
        .target(name: "Crypto", dependencies: ["CCrypto", "CCryptoSetup"], swiftSettings: strict),
        .target(name: "Postgres", dependencies: ["CPostgres"], swiftSettings: strict),
        // An S3-compatible object store client: SigV4 signing (libcrypto) and requests (libcurl).
        .target(name: "S3", dependencies: ["Curl", "Crypto", "HTTP1"], swiftSettings: strict),
        // Layer 4: domain (configuration, tasks, states, policies). No IO.
        .target(name: "Domain", swiftSettings: strict),
        // Layer 5: the store contract (protocols by aggregate, records), and its SQLite implementation:
        // the only place with SQL.
        .target(name: "Store", dependencies: ["Domain"], swiftSettings: strict),
        .target(name: "SQLiteStore", dependencies: ["Store", "SQLite", "Domain"], swiftSettings: strict),
        // …and its PostgreSQL implementation, for several instances on one database (it imports a
        // SQLite store for `migrate-store`).
        .target(name: "PostgresStore", dependencies: ["Store", "Postgres", "SQLite", "SQLiteStore", "Domain"], swiftSettings: strict),
        // Layer 6: API handlers, workers, delivery; `App` composes everything.
        .target(
            name: "Gateway",
            dependencies: ["HTTP1", "WebSocket", "Multipart", "HTTPServer", "Store", "SQLiteStore", "PostgresStore", "Postgres", "S3", "Curl", "Crypto", "Domain", "CMalloc", "FileSync"],
            // The ops console's files are compiled into the binary (SPEC §17): nothing to deploy beside it.
            resources: [.copy("Resources/clips"), .embedInCode("Console/Assets/index.html"), .embedInCode("Console/Assets/console.js"),
                        .embedInCode("Console/Assets/console.css"), .embedInCode("Console/Assets/favicon.svg")],
            swiftSettings: strict),
        // Layer 7: a thin executable.
        .executableTarget(name: "reelgate", dependencies: ["Gateway"], swiftSettings: strict),

        // Test helpers shared by the test targets (raw TCP client, temp dirs, process harness).
        .target(name: "TestSupport", dependencies: ["HTTP1", "WebSocket", "HTTPServer", "Domain", "Postgres", "CThreads"], path: "Tests/TestSupport",
                swiftSettings: strict),
        // The fake Gemini server as a program, for the google-genai conformance test.
        .executableTarget(name: "fake-gemini", dependencies: ["TestSupport"], path: "Tests/FakeGeminiServer", swiftSettings: strict),
        // Uses libcrypto after exit has begun, for CryptoTests.
        .executableTarget(name: "openssl-exit-probe", dependencies: ["Crypto"], path: "Tests/OpenSSLExitProbe", swiftSettings: strict),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "TestSupport"], exclude: ["FuzzRegressions"], swiftSettings: strict),
        .testTarget(name: "MultipartTests", dependencies: ["Multipart"], swiftSettings: strict),
        .testTarget(name: "WebSocketTests", dependencies: ["WebSocket", "HTTP1", "Crypto", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "FileSyncTests", dependencies: ["FileSync", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CurlTests", dependencies: ["Curl", "Crypto", "HTTPServer", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "openssl-exit-probe"], swiftSettings: strict),
        .testTarget(name: "S3Tests", dependencies: ["S3", "Crypto", "Curl", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "PostgresStore", "Store", "Domain", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DomainTests", dependencies: ["Domain"], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "SQLiteStore", "PostgresStore", "Postgres", "SQLite", "Domain", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "WebSocket", "Store", "SQLiteStore", "SQLite", "Postgres", "S3", "Curl", "Domain", "HTTP1", "HTTPServer", "Crypto", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

