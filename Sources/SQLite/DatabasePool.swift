import CSQLite
import Dispatch
import Glibc
import FileSync
import Synchronization

/// One writer connection and a pool of readers, each confined to its own serial queue
/// (GRDB's `DatabasePool` design): WAL lets readers run while the writer commits.
///
/// Writes are group-committed. Every ``write(_:)`` call queued while the writer is busy joins the
/// next batch: one `BEGIN IMMEDIATE`, each job in its own savepoint (a failing job rolls back
/// alone), one `COMMIT`. Callers are answered only after that COMMIT returned, and with
/// `synchronous=FULL` that means after the fsync: a batch of 200 submits costs one fsync, not 200,
/// and "acknowledged" still means "durable".
///
/// The writer does not wait for the disk in a COMMIT (`synchronous=NORMAL`: a COMMIT writes the
/// WAL and returns; only a WAL restart or the far-off automatic checkpoint still sync there). A write says how durable it must be before its caller is answered
/// (``WriteDurability``): a deferred one right after the COMMIT, a synced one once an fsync of
/// the WAL that started after its COMMIT has succeeded. Those fsyncs run beside the writer, in
/// shared rounds (``SyncRounds``), so the next batch executes while the last one syncs. (With
/// `synchronous=FULL` the writer sat in every commit's fsync, and under a burst of finishing
/// tasks it was busy 99% of the time, a third of that waiting for the disk.)
///
/// Checkpoints (copying the WAL back into the database file) run on a connection and queue of
/// their own, in `PASSIVE` mode, shortly after commits: SQLite's automatic checkpoint would run
/// inside the writer's `COMMIT`, stalling every write queued behind it (a tenth of the writer's
/// time under a submit load, and its worst latencies). The writer keeps the automatic one only
/// as a safety valve at a much larger WAL, should the background one fall behind.
public final class DatabasePool: @unchecked Sendable {
    /// Jobs are created on any thread and run once on the writer queue; the closures they hold
    /// are built from `@Sendable` pieces.
    private struct WriteJob: @unchecked Sendable {
        /// Runs the job inside the batch; returns what to do once the batch committed or failed.
        let run: (Database) -> (_ commitError: (any Error)?) -> Void
        /// Answers the job without running it (the batch could not begin).
        let fail: (any Error) -> Void
        let durability: WriteDurability
    }

    public let path: String
    /// Guarded by `writerQueue`.
    private let writer: Database
    private let writerQueue = DispatchQueue(label: "reelgate.sqlite.writer")
    private let readers: [Reader]
    private let nextReader = Atomic<Int>(0)
    private let pending = Mutex<(jobs: [WriteJob], scheduled: Bool)>(([], false))
    /// Read-only connections for ``readNow(_:)``, checked out by the calling thread for one read.
    private let idleConnections = Mutex<[CheckedOutConnection]>([])
    private let openConnections = Atomic<Int>(0)
    private let readOptions: Database.Options
    private static let maxReadNowConnections = 16
    private let maxBatch: Int
    /// Whether synced writes are fsynced at all (`Database.Options.synchronousFull`).
    private let syncsCommits: Bool
    private let walSync: SyncRounds
    /// The WAL, open for the pool's life: a descriptor opened before a writeback error is told of
    /// it on its next fsync, whoever else (the checkpointer) saw it first.
    private let wal: WALFile?
    /// Set by a failed WAL fsync: from then on every write is refused (fail-stop, as PostgreSQL
    /// does), since what the WAL holds on disk is no longer known.
    private let walBroken = Atomic<Bool>(false)
    /// Guarded by `checkpointQueue`.
    private let checkpointer: Database
    private let checkpointQueue = DispatchQueue(label: "reelgate.sqlite.checkpoint")
    private let checkpointScheduled = Atomic<Bool>(false)
    private let completedCheckpoints = Mutex<(count: Int, walFrames: Int, copiedFrames: Int)>((0, 0, 0))
    /// Commits within this gather into one checkpoint. Short: a large checkpoint's writes slow the
    /// writer's own fsyncs while it runs (at 100 ms, submit p99 went from 15 to 27 ms; at 10 ms it
    /// stayed at 13-15 ms with 5-10% more submits than checkpointing in the writer).
    static let checkpointDelay = DispatchTimeInterval.milliseconds(10)
    /// The writer's own checkpoint, only if the WAL reaches this many pages (64 MiB of 4 KiB).
    public static let writerCheckpointPages = 16384

    /// Opens (creating if needed) the database, applies `migrator`, and opens the readers.
    /// `walFlush` makes a synced commit durable (a seam for tests; by default `fdatasync` of the
    /// WAL through the pool's own descriptor).
    public init(
        path: String, readers readerCount: Int = 2, options: Database.Options = Database.Options(),
        migrator: Migrator = Migrator(), maxBatch: Int = 512, walFlush: (@Sendable (String) -> Int32)? = nil
    ) throws {
        self.path = path
        self.maxBatch = maxBatch
        syncsCommits = options.synchronousFull && !options.readOnly
        writer = try Database(path: path, options: options)
        try migrator.migrate(writer)
        let walPath = writer.walPath ?? path + "-wal"
        wal = syncsCommits ? try WALFile(path: walPath) : nil
        let wal = self.wal
        walSync = SyncRounds(path: walPath, flush: walFlush ?? { _ in wal?.sync() ?? 0 })
        // The schema is on disk before anything is written with it.
        if syncsCommits {
            let error = wal?.sync() ?? 0
            guard error == 0 else { throw SQLiteError(code: SQLITE_IOERR, message: "fsync of the WAL failed (errno \(error))", sql: path) }
            try writer.execute("PRAGMA synchronous=NORMAL")
        }
        if !options.readOnly { try writer.execute("PRAGMA wal_autocheckpoint=\(Self.writerCheckpointPages)") }
        checkpointer = try Database(path: path, options: options)
        var readOptions = options
        readOptions.readOnly = true
        self.readOptions = readOptions
        readers = try (0..<max(readerCount, 1)).map { i in
            Reader(db: try Database(path: path, options: readOptions), queue: DispatchQueue(label: "reelgate.sqlite.reader.\(i)"))
        }
    }

    // MARK: Writes

    /// Runs `body` in the next group-committed batch and returns once it is committed, and
    /// fsynced when `durability` says so.
    ///
    /// `body` must not start or end transactions itself: it already runs in a savepoint.
    public func write<T: Sendable>(_ durability: WriteDurability = .synced, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            write(durability, body) { continuation.resume(with: $0) }
        }
    }

    /// Callback form of ``write(_:_:)``, for callers that live on Dispatch queues.
    public func write<T: Sendable>(
        _ durability: WriteDurability = .synced, _ body: @escaping @Sendable (Database) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let job = WriteJob(run: { db in
            var result: Result<T, any Error>
            do {
                try db.execute("SAVEPOINT job")
                do {
                    result = .success(try body(db))
                    try db.execute("RELEASE job")
                } catch {
                    try? db.execute("ROLLBACK TO job")
                    try? db.execute("RELEASE job")
                    result = .failure(error)
                }
            } catch {
                result = .failure(error)
            }
            return { commitError in
                if let commitError, case .success = result {
                    completion(.failure(commitError))
                } else {
                    completion(result)
                }
            }
        }, fail: { completion(.failure($0)) }, durability: durability)
        let schedule = pending.withLock { state -> Bool in
            state.jobs.append(job)
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule {
            writerQueue.async { [self] in drainBatches() }
        }
    }

    private func drainBatches() {
        while true {
            let batch: [WriteJob] = pending.withLock { state in
                if state.jobs.isEmpty {
                    state.scheduled = false
                    return []
                }
                let take = min(state.jobs.count, maxBatch)
                let batch = Array(state.jobs.prefix(take))
                state.jobs.removeFirst(take)
                return batch
            }
            if batch.isEmpty { return }
            if walBroken.load(ordering: .acquiring) {
                let refusal = SQLiteError(code: SQLITE_IOERR, message: "an fsync of the WAL failed earlier: writes are refused until a restart", sql: "BEGIN")
                for job in batch { job.fail(refusal) }
                continue
            }
            do {
                try writer.execute("BEGIN IMMEDIATE")
            } catch {
                for job in batch { job.fail(error) }
                continue
            }
            let finishers = batch.map { $0.run(writer) }
            var commitError: (any Error)?
            do {
                try writer.execute("COMMIT")
            } catch {
                commitError = error
                try? writer.execute("ROLLBACK")
            }
            if commitError == nil, syncsCommits {
                var synced: [(_ commitError: (any Error)?) -> Void] = []
                for (job, finish) in zip(batch, finishers) {
                    if job.durability == .synced { synced.append(finish) } else { finish(nil) }
                }
                if !synced.isEmpty { answerOnceSynced(synced) }
            } else {
                for finish in finishers { finish(commitError) }
            }
            if commitError == nil { scheduleCheckpoint() }
        }
    }

    /// Answers synced jobs once the WAL they were committed to is on disk. A failed fsync fails
    /// them (the write may or may not survive a power cut); it is never silently answered as
    /// durable.
    private func answerOnceSynced(_ finishers: [(_ commitError: (any Error)?) -> Void]) {
        let box = UncheckedFinishers(finishers)
        walSync.sync { [self] error in
            if error != 0 { walBroken.store(true, ordering: .releasing) }
            let failure = error == 0 ? nil : SQLiteError(code: SQLITE_IOERR, message: "fsync of the WAL failed (errno \(error))", sql: "COMMIT")
            for finish in box.finishers { finish(failure) }
        }
    }

    /// One `PASSIVE` checkpoint soon, unless one is already due. It copies what no reader still
    /// needs and never waits for the writer or a reader.
    private func scheduleCheckpoint() {
        guard checkpointScheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        checkpointQueue.asyncAfter(deadline: .now() + Self.checkpointDelay) { [weak self] in
            guard let self else { return }
            checkpointScheduled.store(false, ordering: .releasing)
            // (busy, frames in the WAL, frames copied); a checkpoint already running is fine.
            guard let row = try? checkpointer.query("PRAGMA wal_checkpoint(PASSIVE)").first else { return }
            completedCheckpoints.withLock { $0 = ($0.count + 1, row[1].int ?? 0, row[2].int ?? 0) }
        }
    }

    /// Background checkpoints run so far, and the WAL's size and copied frames after the last.
    public var checkpoints: (count: Int, walFrames: Int, copiedFrames: Int) { completedCheckpoints.withLock { $0 } }

    /// Runs `body` on the writer outside any batch (schema work, maintenance), synced before it
    /// returns. Blocks the caller.
    public func writeUnbatched<T>(_ body: (Database) throws -> T) throws -> T {
        let result = try writerQueue.sync { try body(writer) }
        if syncsCommits {
            let error = wal?.sync() ?? 0
            guard error == 0 else {
                walBroken.store(true, ordering: .releasing)
                throw SQLiteError(code: SQLITE_IOERR, message: "fsync of the WAL failed (errno \(error))", sql: path)
            }
        }
        return result
    }

    /// ``Database/work`` over every connection that is not checked out at the moment of the
    /// call: the writer, the checkpointer, the readers and the idle ``readNow(_:)`` ones.
    public func statementWork() -> StatementWork {
        var total = writerQueue.sync { writer.work } + checkpointQueue.sync { checkpointer.work }
        for reader in readers { total = total + reader.queue.sync { reader.db.work } }
        return idleConnections.withLock { $0.reduce(total) { $0 + $1.db.work } }
    }

    // MARK: Reads

    /// Runs `body` on a reader connection.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            read(body) { continuation.resume(with: $0) }
        }
    }

    /// Callback form of ``read(_:)``.
    public func read<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let reader = nextReaderConnection()
        reader.queue.async {
            completion(Result { try body(reader.db) })
        }
    }

    /// Readers in turn; each serves one read at a time on its own queue.
    private func nextReaderConnection() -> Reader {
        readers[nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count]
    }

    /// Runs a short read on the calling thread, on a read-only connection checked out for it: no
    /// thread switch, where ``read(_:)`` takes two. For point lookups on a request's path (a task
    /// by its id), which take microseconds; WAL readers never wait for the writer. Scans and
    /// anything long use ``read(_:)``, which keeps the caller's thread free.
    ///
    /// Concurrency: a connection is used by one thread at a time (checked out under a lock, put
    /// back after), as SQLite's multi-thread mode requires; at most 16 are opened, and when all
    /// are out the read queues on a reader instead.
    public func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        var connection = idleConnections.withLock { $0.popLast() }
        if connection == nil, openConnections.wrappingAdd(1, ordering: .relaxed).oldValue < Self.maxReadNowConnections {
            do {
                connection = CheckedOutConnection(db: try Database(path: path, options: readOptions))
            } catch {
                openConnections.wrappingSubtract(1, ordering: .relaxed)
                throw error
            }
        } else if connection == nil {
            openConnections.wrappingSubtract(1, ordering: .relaxed)
            return try readBlocking { try Self.snapshot($0, body) }
        }
        let checkedOut = connection!
        var reusable = true
        defer {
            // A connection whose transaction could not end would pin the WAL: closed, not reused.
            if reusable { idleConnections.withLock { $0.append(checkedOut) } } else { openConnections.wrappingSubtract(1, ordering: .relaxed) }
        }
        return try Self.snapshot(checkedOut.db, body, ended: { reusable = $0 })
    }

    /// Runs `body` in one read transaction: every query sees the same snapshot, and the WAL read
    /// lock is taken once rather than per statement.
    private static func snapshot<T>(_ db: Database, _ body: (Database) throws -> T, ended: (Bool) -> Void = { _ in }) throws -> T {
        try db.execute("BEGIN")
        defer { ended((try? db.execute("COMMIT")) != nil) }
        return try body(db)
    }

    /// Runs `body` on a reader and blocks the caller until it returns.
    public func readBlocking<T>(_ body: (Database) throws -> T) throws -> T {
        let reader = nextReaderConnection()
        return try reader.queue.sync { try body(reader.db) }
    }
}

/// A read-only connection and the serial queue it is confined to; `db` is only touched on `queue`.
private final class Reader: @unchecked Sendable {
    let db: Database
    let queue: DispatchQueue
    init(db: Database, queue: DispatchQueue) {
        self.db = db
        self.queue = queue
    }
}

/// A connection of ``DatabasePool/readNow(_:)``: held by one thread from checkout to return.
private final class CheckedOutConnection: @unchecked Sendable {
    let db: Database
    init(db: Database) { self.db = db }
}

/// The finishers of a batch's synced jobs, handed to the sync round's thread. They are built from
/// `@Sendable` pieces (see `WriteJob`) and each runs once.
private struct UncheckedFinishers: @unchecked Sendable {
    let finishers: [(_ commitError: (any Error)?) -> Void]
    init(_ finishers: [(_ commitError: (any Error)?) -> Void]) { self.finishers = finishers }
}

/// The WAL file, held open by the pool for its fsyncs.
private final class WALFile: Sendable {
    let fd: Int32

    init(path: String) throws {
        // The migration's writes created it; opened read-only, which fdatasync accepts on Linux.
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SQLiteError(code: SQLITE_CANTOPEN, message: "cannot open the WAL (errno \(errno))", sql: path) }
    }

    func sync() -> Int32 { fdatasync(fd) == 0 ? 0 : errno }

    deinit { close(fd) }
}
