import Domain
import Foundation
import Gateway
import Testing

private func load(_ json: String? = nil, env: [String: String] = [:]) throws -> Configuration {
    try ConfigurationLoader.load(file: json.map { Data($0.utf8) }, environment: env, providers: ProviderRegistry.settings)
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsNeedNoFile() throws {
        let config = try load()
        #expect(config.listen == "127.0.0.1:8080")
        #expect(config.dataDir == "./data")
        #expect(config.webhooks.retrySchedule == [1, 2, 4])
        #expect(config.webhooks.timeoutSeconds == 10)
        #expect(config.apiKeys.isEmpty)
    }

    @Test func fileKeysMirrorTheContract() throws {
        let config = try load("""
            {"listen":"127.0.0.1:0","dataDir":"/tmp/x","publicURL":"https://gw.example.com",
             "apiKeys":[{"name":"app","key":"0123456789abcdef","role":"client"}],
             "webhooks":{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","retrySchedule":[0.5,1],"timeoutSeconds":3},
             "network":{"allowHTTP":true,"allowHosts":["10.0.0.0/8"]},"workers":{"count":4},
             "providers":{"gemini":{"apiKey":"g","apiVersion":"v1"}},
             "models":{"acme:video@1":[{"provider":"simulator","model":"sim"}]},"media":{"maxBytes":1000}}
            """)
        #expect(config.publicURL == "https://gw.example.com")
        #expect(config.apiKeys.first?.role == .client)
        #expect(config.webhooks.retrySchedule == [0.5, 1])
        #expect(config.network.allowHosts == ["10.0.0.0/8"])
        #expect(config.providers.gemini.apiVersion == "v1")
        #expect(config.providers.gemini.baseURL == "https://generativelanguage.googleapis.com")
        #expect(config.models["acme:video@1"]?.first?.provider == "simulator")
    }

    @Test func environmentOverridesTheFile() throws {
        let config = try load(#"{"listen":"127.0.0.1:9000","dataDir":"/a"}"#, env: [
            "REELGATE_LISTEN": "127.0.0.1:0", "REELGATE_DATA_DIR": "/b", "REELGATE_API_KEYS": "ops1:key:with:colons-123:ops,app:abcdefghijklmnop:client",
            "REELGATE_WEBHOOK_SECRET": "sixteen-bytes-or-more", "REELGATE_ALLOW_HTTP": "1", "REELGATE_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8",
            "GEMINI_API_KEY": "gk", "GEMINI_BASE_URL": "http://127.0.0.1:1", "FAL_KEY": "fk", "RUNWARE_API_KEY": "rk",
        ])
        #expect(config.listen == "127.0.0.1:0")
        #expect(config.dataDir == "/b")
        #expect(config.apiKeys.map(\.key) == ["key:with:colons-123", "abcdefghijklmnop"])
        #expect(config.apiKeys.map(\.role) == [.ops, .client])
        #expect(config.network.allowHTTP)
        #expect(config.network.allowHosts == ["127.0.0.1", "10.0.0.0/8"])
        #expect(config.providers.gemini.baseURL == "http://127.0.0.1:1")
        #expect(config.providers.fal.key == "fk")
    }

    @Test(arguments: [
        (#"{"listn":"127.0.0.1:1"}"#, "unknown configuration key listn"),
        (#"{"webhooks":{"retries":3}}"#, "unknown configuration key webhooks.retries"),
        (#"{"providers":{"gemini":{"key":"x"}}}"#, "unknown configuration key providers.gemini.key"),
        (#"{"workers":{"count":"eight"}}"#, "workers.count"),
        (#"{"listen":"nohost"}"#, "listen: expected host:port"),
        (#"{"listen":"127.0.0.1:70000"}"#, "port must be"),
        (#"{"listen":"0.0.0.0:8080"}"#, "without an API key"),
        (#"{"listen":"0.0.0.0:8080","apiKeys":[{"name":"d","key":"reelgate-dev-key-change-me","role":"ops"}]}"#, "example API key"),
        (#"{"apiKeys":[{"name":"d","key":"short","role":"ops"}]}"#, "at least 16"),
        (#"{"apiKeys":[{"name":"d","key":"0123456789abcdef","role":"admin"}]}"#, "apiKeys"),
        (#"{"webhooks":{"retrySchedule":[-1]}}"#, "retrySchedule"),
        (#"{"listen":"#, "not valid JSON"),
    ])
    func invalidConfigurationIsRefusedWithAClearMessage(json: String, expected: String) {
        do {
            _ = try load(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func nonLoopbackWithARealKeyIsAllowed() throws {
        let config = try load(#"{"listen":"0.0.0.0:8080"}"#, env: ["REELGATE_API_KEYS": "ops:0123456789abcdef:ops"])
        #expect(config.listen == "0.0.0.0:8080")
    }

    @Test func maskedOutputHidesEverySecret() throws {
        let config = try load(nil, env: [
            "REELGATE_API_KEYS": "ops:super-secret-key-1:ops", "REELGATE_WEBHOOK_SECRET": "whsec_aHVzaC1odXNoLWh1c2gtaHVzaA==",
            "GEMINI_API_KEY": "gemini-hush", "FAL_KEY": "fal-hush", "RUNWARE_API_KEY": "runware-hush",
        ])
        let text = ConfigurationLoader.maskedJSON(config)
        for secret in ConfigurationLoader.secrets(config) { #expect(!text.contains(secret)) }
        #expect(ConfigurationLoader.secrets(config).count == 5)
        #expect(text.contains("\"name\" : \"ops\""))
    }

    @Test(arguments: [("127.0.0.1:0", "127.0.0.1", 0, true), ("[::1]:8080", "::1", 8080, true),
                      ("0.0.0.0:80", "0.0.0.0", 80, false), ("localhost:1", "localhost", 1, true), ("127.9.9.9:1", "127.9.9.9", 1, true),
                      ("[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", 1, true), ("[::]:1", "::", 1, false)])
    func listenAddresses(text: String, host: String, port: Int, loopback: Bool) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host && address.port == port && address.isLoopback == loopback)
    }

    // MARK: Secret hygiene and strictness (issue 10, points 12, 13, 15)

    /// Every string in the configuration whose name says it may be a credential is in the one
    /// list of secrets, which masks it, scrubs it from logs and (where there is one) reads its
    /// environment variable. The walk covers every key of the encoded configuration, so a new
    /// secret field that is not listed fails here.
    @Test func theOneSecretListCoversEveryCredentialInTheConfiguration() throws {
        let config = try load("""
            {"apiKeys":[{"name":"a","key":"marker-api-key-000001","role":"client"}],
             "webhooks":{"secret":"whsec_bWFya2VyLXdlYmhvb2stc2VjcmV0"},
             "network":{"egressProxy":"http://user:marker-proxy-pass@proxy.internal:3128"},
             "providers":{"gemini":{"apiKey":"marker-gemini"},"fal":{"key":"marker-fal"},"runware":{"apiKey":"marker-runware"},
                          "taskapi":[{"name":"agg","baseURL":"https://agg.example","apiKey":"marker-taskapi"}]},
             "database":{"url":"postgres://reelgate:marker-db-password@db.internal:5432/reelgate"},
             "media":{"store":{"type":"s3","endpoint":"http://127.0.0.1:9000","bucket":"b","accessKeyId":"marker-s3-id",
                               "secretAccessKey":"marker-s3-secret"}}}
            """)
        let secrets = ConfigurationLoader.secrets(config)
        #expect(secrets.count == 10)
        let masked = ConfigurationLoader.maskedJSON(config)
        for secret in secrets { #expect(!masked.contains(secret), "check-config shows \(secret)") }
        #expect(!masked.contains("marker"))

        let encoder = JSONEncoder()
        let plain = try JSONSerialization.jsonObject(with: encoder.encode(config))
        var credentials: [String] = []
        func walk(_ value: Any, _ path: String) {
            if let object = value as? [String: Any] {
                for (key, child) in object { walk(child, path.isEmpty ? key : "\(path).\(key)") }
            } else if let array = value as? [Any] {
                for child in array { walk(child, path + "[]") }
            } else if value is String {
                let leaf = path.split(separator: ".").last.map(String.init)?.lowercased() ?? ""
                if ["key", "secret", "token", "password", "proxy", "credential"].contains(where: { leaf.contains($0) }) { credentials.append(path) }
            }
        }
        walk(plain, "")
        let listed = Set(SecretField.all(providers: ProviderRegistry.settings).map(\.path))
        #expect(credentials.count >= 7)
        for path in credentials { #expect(listed.contains(path), "\(path) looks like a credential but is not a SecretField") }
        // Each listed environment variable sets its field.
        // The s3 store's credentials apply to an s3 store: the bucket selects it.
        var env: [String: String] = ["REELGATE_S3_BUCKET": "b", "REELGATE_S3_ENDPOINT": "http://127.0.0.1:9000"]
        for field in SecretField.all(providers: ProviderRegistry.settings) {
            guard let name = field.environment else { continue }
            env[name] = switch name {
            case "REELGATE_API_KEYS": "n:env-key-0123456789ab:ops"
            case "REELGATE_DATABASE_URL": "postgres://u:env-\(name)-0123456789abcdef@db/x"
            default: "http://env-\(name)-0123456789abcdef"
            }
        }
        let fromEnv = try load(nil, env: env)
        #expect(ConfigurationLoader.secrets(fromEnv).count == SecretField.all(providers: ProviderRegistry.settings).filter { $0.environment != nil }.count)
    }

    /// `media.store`: local by default or as `"local"`; an s3 store from the file or from
    /// `REELGATE_S3_*` (the bucket selects it); its mistakes named.
    @Test func theMediaStoreSetting() throws {
        #expect(try load().media.store == .local)
        #expect(try load(#"{"media":{"store":"local"}}"#).media.store == .local)
        let s3 = try #require(try load(#"{"media":{"store":{"type":"s3","endpoint":"http://10.0.0.5:9000","bucket":"vids","prefix":"rg/"}}}"#)
            .media.store.objectStore)
        #expect(s3.endpoint == "http://10.0.0.5:9000" && s3.bucket == "vids" && s3.prefix == "rg/" && s3.region == "us-east-1")
        #expect(s3.partBytes == 16 << 20 && !s3.presignedURLs && s3.pathStyle == nil && s3.partChecksums)
        #expect(try load(#"{"media":{"store":{"type":"s3","endpoint":"http://m:9000","bucket":"b","partChecksums":false}}}"#)
            .media.store.objectStore?.partChecksums == false)
        let fromEnv = try #require(try load(env: [
            "REELGATE_S3_BUCKET": "b2", "REELGATE_S3_ENDPOINT": "https://s3.eu-west-1.amazonaws.com", "REELGATE_S3_REGION": "eu-west-1",
            "REELGATE_S3_PATH_STYLE": "false", "REELGATE_S3_ACCESS_KEY_ID": "AKIA0123456789", "REELGATE_S3_SECRET_ACCESS_KEY": "s3cr3t-s3cr3t",
        ]).media.store.objectStore)
        #expect(fromEnv.bucket == "b2" && fromEnv.region == "eu-west-1" && fromEnv.pathStyle == false)
        #expect(fromEnv.accessKeyId == "AKIA0123456789" && fromEnv.secretAccessKey == "s3cr3t-s3cr3t")
        for (json, message) in [
            (#"{"media":{"store":"disk"}}"#, "media.store must be"),
            (#"{"media":{"store":{"type":"gcs","endpoint":"x","bucket":"b"}}}"#, "type must be \"s3\""),
            (#"{"media":{"store":{"type":"s3","bucket":"b"}}}"#, "needs endpoint and bucket"),
            (#"{"media":{"store":{"type":"s3","endpoint":"http://x","bucket":"b","partBytes":1024}}}"#, "at least 5 MiB"),
            (#"{"media":{"store":{"type":"s3","endpoint":"http://x","bucket":"b","colour":1}}}"#, "unknown configuration key media.store.colour"),
        ] {
            #expect { try load(json) } throws: { "\($0)".contains(message) }
        }
    }

    @Test func aMalformedKeyListNeverEchoesTheKey() {
        for text in ["app:ops:sk-live-0123456789abcdef", "sk-live-0123456789abcdef", "x:sk-live-0123456789abcdef:admin"] {
            do {
                _ = try load(nil, env: ["REELGATE_API_KEYS": text])
                Issue.record("accepted \(text)")
            } catch {
                #expect(!"\(error)".contains("sk-live"), "\(error)")
                #expect("\(error)".contains("REELGATE_API_KEYS entry 1"))
            }
        }
        // A file key in the wrong field is not echoed either.
        do {
            _ = try load(#"{"apiKeys":[{"name":"sk-live-0123456789abcdef","key":"short","role":"ops"}]}"#)
            Issue.record("accepted a short key")
        } catch {
            #expect(!"\(error)".contains("sk-live"), "\(error)")
            #expect("\(error)".contains("apiKeys[0]"))
        }
    }

    @Test(arguments: [
        (#"{"webhooks":{"secret":"whsec_c2hvcnQ="}}"#, "webhooks.secret"),  // 5 bytes
        (#"{"webhooks":{"secret":"whsec_not base64!"}}"#, "webhooks.secret"),
        (#"{"webhooks":{"secret":"tiny"}}"#, "webhooks.secret"),
        (#"{"listen":"127.attacker.example:8080"}"#, "must be an IP address or localhost"),
        (#"{"listen":"localhost.attacker.example:8080"}"#, "must be an IP address or localhost"),
        (#"{"providers":{"taskapi":[{"name":"agg","baseURL":"https://a.example","apiKy":"k"}]}}"#, "unknown configuration key providers.taskapi[0].apiKy"),
        (#"{"providers":{"taskapi":[{"name":"agg","baseURL":"https://a.example","limits":{"maxConcurent":1}}]}}"#,
         "unknown configuration key providers.taskapi[0].limits.maxConcurent"),
        (#"{"providers":{"fal":{"limits":{"burst":1}}}}"#, "unknown configuration key providers.fal.limits.burst"),
        (#"{"providers":{"taskapi":[{"baseURL":"https://a.example"}]}}"#, "providers.taskapi[0].name is required"),
        (#"{"providers":{"taskapi":[{"name":"fal","baseURL":"https://a.example"}]}}"#, "providers.taskapi[0].name"),
        (#"{"models":{"a:b@1":[{"provider":"simulator","model":"x","weight":1}]}}"#, "unknown configuration key models.a:b@1[0].weight"),
        (#"{"apiKeys":[{"name":"a","key":"0123456789abcdef","role":"ops","rate":1}]}"#, "unknown configuration key apiKeys[0].rate"),
        (#"{"network":{"egressProxy":"socks5://p:1"}}"#, "network.egressProxy must be an http:// or https:// URL"),
        (#"{"server":{"maxTasksPerRequest":0}}"#, "server.maxTasksPerRequest must be at least 1"),
        (#"{"server":{"bodyDeadlineSeconds":0}}"#, "server.bodyDeadlineSeconds must be positive"),
        (#"{"listen":"[2002:7f00:1::]:8080"}"#, "without an API key"),  // 6to4 of 127.0.0.1 is not loopback
    ])
    func badSecretsAddressesAndKeysFailAtStart(json: String, expected: String) {
        do {
            _ = try load(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func aPartialLimitsObjectKeepsTheProvidersOwnDefaults() throws {
        let config = try load("""
            {"providers":{"fal":{"limits":{"breakerThreshold":2}},"gemini":{"limits":{"requestsPerMinute":60}},
                          "taskapi":[{"name":"agg","baseURL":"https://a.example","limits":{"maxConcurrent":3}}]}}
            """)
        #expect(config.providers.fal.limits.maxConcurrent == 8)
        #expect(config.providers.fal.limits.requestsPerMinute == 300)
        #expect(config.providers.fal.limits.breakerThreshold == 2)
        #expect(config.providers.gemini.limits.maxConcurrent == 16)
        #expect(config.providers.gemini.limits.requestsPerMinute == 60)
        #expect(config.providers.taskapi[0].limits.maxConcurrent == 3)
        #expect(config.providers.taskapi[0].limits.requestsPerMinute == 300)
        #expect(config.providers.simulator.limits == Configuration().providers.simulator.limits)
    }
}
