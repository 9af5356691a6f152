import Dispatch
import Foundation
import Glibc
import Postgres
import Store
import Synchronization

/// `LISTEN` on a connection of its own, on a thread of its own (libpq blocks): each notification
/// another instance's commit sends goes to the handlers. A lost connection is reconnected with
/// backoff; nothing is lost meanwhile that the workers' fallback poll does not find.
final class PostgresWorkListener: @unchecked Sendable {
    static let channels: [StoreWork: String] = [.tasks: "reelgate_tasks", .deliveries: "reelgate_deliveries"]

    private let url: PostgresURL
    private let handlers = Mutex<[@Sendable (StoreWork) -> Void]>([])
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    init(url: PostgresURL) { self.url = url }

    func add(_ handler: @escaping @Sendable (StoreWork) -> Void) {
        handlers.withLock { $0.append(handler) }
        guard !started.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in run() }
        thread.name = "reelgate.postgres.listen"
        thread.start()
    }

    /// Stops listening and lets go of the handlers: they hold the workers that hold the store
    /// that holds this listener, so a stopped gateway would never be released.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        handlers.withLock { $0.removeAll() }
    }

    private func run() {
        var backoff = 0.1
        var reconnecting = false
        while !stopped.load(ordering: .relaxed) {
            do {
                let db = try PostgresConnection(url)
                for channel in Self.channels.values { try db.execute("LISTEN \(channel)") }
                if reconnecting {
                    // What was notified while it was away is looked for once.
                    for handler in handlers.withLock({ $0 }) { for work in Self.channels.keys { handler(work) } }
                }
                reconnecting = true
                backoff = 0.1
                while !stopped.load(ordering: .relaxed) {
                    var poll = pollfd(fd: db.socket, events: Int16(POLLIN), revents: 0)
                    _ = Glibc.poll(&poll, 1, 1000)  // a second at most, to notice `stop`
                    for (channel, _) in try db.notifications() {
                        guard let work = Self.channels.first(where: { $0.value == channel })?.key else { continue }
                        for handler in handlers.withLock({ $0 }) { handler(work) }
                    }
                    guard db.isHealthy else { break }
                }
            } catch {
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 5)
            }
        }
    }
}
