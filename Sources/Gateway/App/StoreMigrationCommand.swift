import Domain
import Foundation
import Postgres
import PostgresStore

/// `reelgate migrate-store`: the SQLite store in `dataDir` into the empty PostgreSQL database at
/// `database.url` (``SQLiteImport``), for a move from one instance to several (SPEC §16).
///
/// It holds the data dir's lock, so it refuses to run beside a gateway still serving from it.
/// Media files stay where they are: stored paths under `dataDir/media` (and `dataDir/images`,
/// where older builds kept uploads) are rewritten to the configured media directory, and the
/// command says what to copy there before the first instance starts.
enum StoreMigrationCommand {
    static func run(_ configuration: Configuration) -> Int32 {
        guard let address = configuration.database.url else {
            CommandLineInterface.printError("reelgate: migrate-store copies the SQLite store in dataDir into database.url: set REELGATE_DATABASE_URL (or database.url)\n")
            return 2
        }
        let url = PostgresURL(address)
        let databasePath = (configuration.dataDir as NSString).appendingPathComponent("reelgate.db")
        guard FileManager.default.fileExists(atPath: databasePath) else {
            CommandLineInterface.printError("reelgate: no SQLite store at \(databasePath)\n")
            return 2
        }
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: configuration.dataDir)
        } catch {
            CommandLineInterface.printError("reelgate: \(error); stop the gateway serving from it first\n")
            return 1
        }
        defer { withExtendedLifetime(lock) {} }
        let oldMedia = MediaStore.standardized((configuration.dataDir as NSString).appendingPathComponent("media"))
        let oldImages = MediaStore.standardized((configuration.dataDir as NSString).appendingPathComponent("images"))
        let newMedia = MediaStore.standardized(configuration.mediaDirectory)
        let rewrite: (String) -> String = { path in
            if path.hasPrefix(oldMedia + "/") { return newMedia + path.dropFirst(oldMedia.count) }
            if path.hasPrefix(oldImages + "/") { return newMedia + "/images" + path.dropFirst(oldImages.count) }
            return path
        }
        do {
            let summary = try SQLiteImport.run(sqlitePath: databasePath, into: url, rewrite: rewrite)
            print("copied into \(url.redacted):")
            for (table, rows) in summary.copied { print("  \(table): \(rows)") }
            if newMedia != oldMedia {
                print("""
                    media paths now point into \(newMedia): copy the files there before starting an instance, e.g.
                      cp -a \(oldMedia)/. \(newMedia)/
                      [ -d \(oldImages) ] && mkdir -p \(newMedia)/images && cp -a \(oldImages)/. \(newMedia)/images/
                    """)
            }
            return 0
        } catch {
            // A libpq message names host and database, never the password; mask it regardless.
            var message = "\(error)"
            for secret in url.secretPieces where !secret.isEmpty { message = message.replacingOccurrences(of: secret, with: "***") }
            CommandLineInterface.printError("reelgate: migrate-store failed, nothing was written: \(message)\n")
            return 1
        }
    }
}
