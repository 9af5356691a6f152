import CEpoll
import CThreads
import Foundation
import Glibc
import Synchronization

/// One thread that waits in `epoll_wait` on the sockets given to it and, in between, runs the
/// Swift jobs and closures enqueued to it: a serial executor and a task executor whose work and
/// IO callbacks all run on that one thread (SwiftNIO's event loop, on epoll directly).
///
/// Connections are actors on a loop and their tasks prefer it, so a request that does not touch
/// the store is read, answered and written without a thread switch, and one that does makes
/// exactly two (to the database's queue and back). Sockets are registered edge-triggered: the
/// owner reads and writes until `EAGAIN` and is told again only when that changes.
public final class EventLoop: SerialExecutor, TaskExecutor, @unchecked Sendable {
    private enum Work {
        case job(UnownedJob)
        case block(@Sendable () -> Void)
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private let pending = Mutex<[Work]>([])
    /// Set while the loop is (about to be) blocked in epoll_wait: an enqueue then wakes it.
    private let sleeping = Atomic<Bool>(false)
    private let thread = Atomic<UInt>(0)
    /// The number of the job or socket handler now running, 0 while the loop waits for events:
    /// ``LoopWatchdog`` reports a loop whose number stays the same for over a second. (A count,
    /// not a clock reading: this is stored for every piece of work.)
    let runningWork = Atomic<UInt64>(0)
    private var workCount: UInt64 = 0
    let name: String
    /// Socket handlers by token; touched only on the loop's thread.
    private var handlers: [UInt64: (UInt32) -> Void] = [:]
    private var nextToken: UInt64 = 1
    /// Where this loop's connections read into before handing the bytes to their parsers: one
    /// buffer per loop, not per connection (10,000 idle WebSocket sessions must not hold 10,000
    /// read buffers). Used only on the loop's thread, and never across a suspension.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: EventLoop.readBufferBytes, alignment: 16)
    static let readBufferBytes = 16 * 1024

    init(name: String) {
        self.name = name
        epfd = cepoll_create()
        wakeFD = ceventfd_create()
        precondition(epfd >= 0 && wakeFD >= 0, "epoll_create1/eventfd failed: errno \(errno)")
        _ = cepoll_add(epfd, wakeFD, CEPOLL_IN, 0)
        let runner = Thread { [self] in run() }
        runner.name = name
        runner.stackSize = 1 << 20
        runner.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// Runs `block` on the loop's thread, after what was enqueued before it.
    public func execute(_ block: @escaping @Sendable () -> Void) {
        submit(.block(block))
    }

    private func submit(_ work: Work) {
        pending.withLock { $0.append(work) }
        if sleeping.exchange(false, ordering: .acquiringAndReleasing) { ceventfd_signal(wakeFD) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// Whether the caller is on the loop's thread.
    public var inLoop: Bool { pthread_equal(pthread_self(), pthread_t(thread.load(ordering: .relaxed))) != 0 }

    /// The loop's thread (`pthread_t`), 0 until it started.
    var threadID: UInt { thread.load(ordering: .relaxed) }

    /// Lets `assumeIsolated` accept code the loop runs outside a job (a socket's handler).
    public func checkIsolated() {
        precondition(inLoop, "not on the event loop's thread")
    }

    /// Watches `fd` (read, write, hang-up; edge-triggered); `handler` gets the epoll flags, on the
    /// loop's thread. Call on the loop's thread; returns the token to stop watching with.
    func watch(_ fd: Int32, _ handler: @escaping (UInt32) -> Void) -> UInt64? {
        let token = nextToken
        nextToken += 1
        guard cepoll_add(epfd, fd, CEPOLL_IN | CEPOLL_OUT | CEPOLL_RDHUP | CEPOLL_ET, token) == 0 else { return nil }
        handlers[token] = handler
        return token
    }

    /// Stops watching; before the descriptor is closed, so its number can be reused safely.
    func unwatch(_ fd: Int32, token: UInt64) {
        _ = cepoll_remove(epfd, fd)
        handlers[token] = nil
    }

    private func run() {
        thread.store(UInt(pthread_self()), ordering: .relaxed)
        cthreads_prepare_current(name)  // named for top -H and perf; the watchdog may ask its stack
        let capacity: Int32 = 256
        guard let events = cepoll_events_allocate(capacity) else { fatalError("cannot allocate the epoll event buffer") }
        var work: [Work] = []
        while true {
            pending.withLock { swap(&$0, &work) }  // the queue gets the emptied buffer back: no allocation
            for item in work {
                workCount &+= 1
                runningWork.store(workCount, ordering: .relaxed)
                switch item {
                case .job(let job): job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
                case .block(let block): block()
                }
            }
            work.removeAll(keepingCapacity: true)
            runningWork.store(0, ordering: .relaxed)
            // Block only with nothing queued; an enqueue after `sleeping` is set wakes the wait.
            sleeping.store(true, ordering: .sequentiallyConsistent)
            let idle = pending.withLock { $0.isEmpty }
            if !idle { sleeping.store(false, ordering: .relaxed) }
            let n = cepoll_wait(epfd, events, capacity, idle ? -1 : 0)
            sleeping.store(false, ordering: .relaxed)
            guard n > 0 else { continue }
            for i in 0..<n {
                let token = cepoll_event_token(events, i)
                if token == 0 {
                    ceventfd_drain(wakeFD)
                } else {
                    workCount &+= 1
                    runningWork.store(workCount, ordering: .relaxed)
                    handlers[token]?(cepoll_event_flags(events, i))
                }
            }
            runningWork.store(0, ordering: .relaxed)
        }
    }
}

/// The event loops the servers of this process share: one per core, started on first use and
/// kept for the life of the process (as SwiftNIO's singleton group).
public final class EventLoopGroup: Sendable {
    public static let shared = EventLoopGroup(count: max(1, ProcessInfo.processInfo.activeProcessorCount))

    let loops: [EventLoop]
    private let turn = Atomic<Int>(0)

    /// A group of its own (the shared one is what a server uses unless told otherwise): a test
    /// whose timing is the point runs on loops nothing else blocks. Loops are named
    /// `<name>.<index>` in the watchdog's reports.
    public init(count: Int, name: String = "reelgate.loop") {
        loops = (0..<count).map { EventLoop(name: "\(name).\($0)") }
        LoopWatchdog.shared.watch(loops)
    }

    /// Where the watchdog reports a loop held up by one piece of work for over a second (every
    /// group's loops are watched): the application's log. Until this is called, standard error.
    public static func onStall(_ report: @escaping @Sendable (LoopStall) -> Void) {
        LoopWatchdog.shared.reportStalls(to: report)
    }

    /// The next loop, round robin.
    func next() -> EventLoop {
        loops[turn.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }
}

/// Runs `body` on Swift's shared pool instead of the event loop, and comes back: for work that
/// takes the CPU for long (parsing or encoding megabytes), which on the loop would hold up every
/// other connection of that loop for its whole length. Two thread switches; only worth it for
/// large work. `@concurrent`, and so is `body`: a handler runs isolated to its connection, and a
/// function inheriting that isolation would run `body` on the connection's loop whatever the
/// preference says.
@concurrent public func offLoop<T: Sendable>(_ body: @concurrent () async throws -> T) async rethrows -> T {
    try await withTaskExecutorPreference(globalConcurrentExecutor, operation: body)
}
