import Domain
import Postgres
import Store
import Foundation
import Glibc
import HTTPServer

/// `reelgate serve | check-config | migrate-store | version`: parses arguments, loads configuration, runs.
public enum CommandLineInterface {
    static let usage = """
        usage: reelgate <command> [--config FILE]

        commands:
          serve          run the gateway (default config: config/reelgate.json if present)
          check-config   validate the configuration and print it with secrets masked
          migrate-store  copy the SQLite store in dataDir into the empty PostgreSQL at database.url
                         (the gateway on dataDir stopped; media paths move to media.directory)
          version        print the version

        Environment overrides: \(ConfigurationLoader.environmentKeys(providers: ProviderRegistry.settings).joined(separator: ", "))

        """

    /// Runs the command and returns the process exit code.
    public static func main(_ arguments: [String], environment: [String: String]) async -> Int32 {
        var args = Array(arguments.dropFirst())
        let command = args.isEmpty ? "help" : args.removeFirst()
        if command == "bench-transfer" { return await BenchTransfer.run(arguments) }
        var configPath: String?
        var explicitConfig = false
        while !args.isEmpty {
            let arg = args.removeFirst()
            if arg == "--config", !args.isEmpty {
                configPath = args.removeFirst()
                explicitConfig = true
            } else if arg.hasPrefix("--config=") {
                configPath = String(arg.dropFirst("--config=".count))
                explicitConfig = true
            } else {
                printError("unknown argument \(arg)\n\n\(usage)")
                return 2
            }
        }

        switch command {
        case "version", "--version":
            print("reelgate \(Application.version)")
            return 0
        case "help", "--help", "-h":
            print(usage, terminator: "")
            return 0
        case "serve", "check-config", "migrate-store":
            let path = configPath ?? "config/reelgate.json"
            let configuration: Configuration
            do {
                var file: Data?
                if FileManager.default.fileExists(atPath: path) {
                    file = try Data(contentsOf: URL(fileURLWithPath: path))
                } else if explicitConfig {
                    throw ConfigurationError("configuration file \(path) does not exist")
                }
                configuration = try ConfigurationLoader.load(file: file, environment: environment, providers: ProviderRegistry.settings)
            } catch {
                printError("reelgate: invalid configuration: \(error)\n")
                return 2
            }
            if command == "migrate-store" { return StoreMigrationCommand.run(configuration) }
            if command == "check-config" {
                print(ConfigurationLoader.maskedJSON(configuration))
                return 0
            }
            return await serve(configuration)
        default:
            printError("unknown command \(command)\n\n\(usage)")
            return 2
        }
    }

    private static func serve(_ configuration: Configuration) async -> Int32 {
        // The database password on its own too: the address is one secret, but an error may quote
        // just the password.
        let databasePassword = configuration.database.url.map { PostgresURL($0).secretPieces } ?? []
        let logger = Logger(secrets: ConfigurationLoader.secrets(configuration) + databasePassword)
        EventLoopGroup.onStall { stall in
            logger.warning("event loop held up by one piece of work",
                           ["loop": stall.loop, "seconds": String(stall.roundedSeconds), "stack": stall.stack.joined(separator: "\n")])
        }
        do {
            // Building may wait without limit (a migration lock another instance holds): signals
            // keep their default action until then, so SIGTERM or Ctrl-C still stops it at once,
            // and nothing has been accepted yet. They are armed before the listener accepts: from
            // the ready line on (a supervisor may restart at once), SIGTERM is a drain.
            let app = try Application(configuration: configuration, logger: logger)
            let signals = SignalWaiter(signals: [SIGTERM, SIGINT])
            try app.start()
            await app.run(until: signals)
            return 0
        } catch {
            logger.error("startup failed", ["error": "\(error)"])
            printError("reelgate: \(error)\n")
            return 1
        }
    }

    static func printError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
