import Domain
import Foundation
import Testing

private func load(_ json: String? = nil, env: [String: String] = [:]) throws -> Configuration {
    try ConfigurationLoader.load(file: json.map { Data($0.utf8) }, environment: env)
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
             "webhooks":{"secret":"whsec_abc","retrySchedule":[0.5,1],"timeoutSeconds":3},
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
            "REELGATE_WEBHOOK_SECRET": "s3", "REELGATE_ALLOW_HTTP": "1", "REELGATE_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8",
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
            "REELGATE_API_KEYS": "ops:super-secret-key-1:ops", "REELGATE_WEBHOOK_SECRET": "whsec_hush",
            "GEMINI_API_KEY": "gemini-hush", "FAL_KEY": "fal-hush", "RUNWARE_API_KEY": "runware-hush",
        ])
        let text = ConfigurationLoader.maskedJSON(config)
        for secret in ConfigurationLoader.secrets(config) { #expect(!text.contains(secret)) }
        #expect(ConfigurationLoader.secrets(config).count == 5)
        #expect(text.contains("\"name\" : \"ops\""))
    }

    @Test(arguments: [("127.0.0.1:0", "127.0.0.1", 0, true), ("[::1]:8080", "::1", 8080, true),
                      ("0.0.0.0:80", "0.0.0.0", 80, false), ("localhost:1", "localhost", 1, true)])
    func listenAddresses(text: String, host: String, port: Int, loopback: Bool) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host && address.port == port && address.isLoopback == loopback)
    }
}
