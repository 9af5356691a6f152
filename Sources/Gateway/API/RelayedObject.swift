import Curl
import Foundation
import Glibc
import HTTP1
import Synchronization

/// A response body relayed from the object store while it arrives. The store's bytes go through a
/// ring buffer in memory straight to the client: nothing touches the disk while the client keeps
/// up. (Staging every object in a local file first cost more than the rest of the relay: the
/// kernel allocating, zeroing and writing back a page-cache page per 4 KiB.)
///
/// A client slower than the store makes the transfer wait for room in the ring, but only for
/// ``maxWaitSeconds`` (2 s) in all. After that, the rest of the object goes to a local file, and the
/// client is served from it at its own pace. This is how nginx buffers a proxied response: memory
/// first, then a temporary file. So a slow reader cannot hold one of the object store's transfer
/// threads for longer than the store takes to send, plus that wait.
///
/// Concurrency: one curl transfer thread produces (``receive(_:)``). The connection consumes, one
/// call at a time (``ready()``, ``next(into:maxBytes:)``, ``close()``). The task of
/// ``follow(_:)`` ends the stream. They share `state` under `condition`. Each side copies its own
/// part of the ring outside the lock: the producer only into free space, the consumer only out
/// of filled space.
final class RelayedObject: FilledResponseBodySource, TransferSink, @unchecked Sendable {
    /// The ring of one response: small enough to stay in the CPU's cache between the two copies
    /// (with 8 MiB, the store's copy into the ring took twice the CPU, and 1 GiB took 45% longer).
    /// A relay whose ring the memory budget cannot cover spills from its first byte.
    static let ringBytes = 2 << 20
    /// What the rings of all relays may take at once.
    static let memoryBudgetBytes = 64 << 20
    private static let memoryInUse = Mutex(0)
    let spillPath: String
    /// How long, in all, the store's transfer may wait for the client before the rest spills.
    let maxWaitSeconds: Double
    /// Gives the staging budget back (the caller took it for what the spill file may hold).
    private let release: @Sendable () -> Void

    private struct State {
        /// The ring, until it is no longer needed: unmapped, and its share of the memory budget
        /// given back, as soon as it is empty and nothing will be written to it again (the rest
        /// spills, or the transfer ended). A slow client reading a large spill file does not
        /// keep a ring from a fast one.
        var ring: UnsafeMutableRawPointer?
        var capacity = 0
        /// Ring offset of the first unsent byte, and how many bytes the ring holds.
        var readAt = 0
        var filled = 0
        /// From the first spilled byte on, every later byte goes to the file: the file always
        /// continues where the ring ends.
        var spilling = false
        var spillFD: Int32 = -1  // the producer's
        var spilled: Int64 = 0
        var spillRead: Int64 = 0
        var waited = 0.0
        var producerWaiting = false
        var ended = false
        var failure: (any Error)?
        var closed = false
        var waiter: CheckedContinuation<Void, any Error>?
        var task: Task<Void, Never>?
    }

    private var state = State()  // guarded by `condition`
    private let condition = NSCondition()
    private var readFD: Int32 = -1  // the consumer's

    /// Bytes that went to the spill file so far, and whether the producer is waiting for room.
    var spilledBytes: Int64 { locked { $0.spilled } }
    var producerIsWaiting: Bool { locked { $0.producerWaiting } }

    private func locked<T>(_ body: (State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(state)
    }

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameter release: called once, when the response is over (sent, failed or abandoned)
    ///   and the spill file gone.
    init(spillPath: String, ringBytes: Int = RelayedObject.ringBytes, maxWaitSeconds: Double = 2,
         release: @escaping @Sendable () -> Void = {})
    {
        self.spillPath = spillPath
        self.maxWaitSeconds = maxWaitSeconds
        self.release = release
        let granted = Self.memoryInUse.withLock { used in
            guard used + ringBytes <= Self.memoryBudgetBytes else { return false }
            used += ringBytes
            return true
        }
        // Mapped, not malloc'd: its pages go back to the system as soon as it is unmapped.
        let mapped = granted ? mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : nil
        if let mapped, mapped != MAP_FAILED {
            state.ring = mapped
            state.capacity = ringBytes
        } else if granted {
            Self.memoryInUse.withLock { $0 -= ringBytes }
        }
    }

    deinit {
        close()
        Self.unmap(&state)  // the producer has let go of us: nothing writes to the ring now
    }

    /// Whether the ring holds the memory budget's share, for tests.
    var holdsRing: Bool { locked { $0.ring != nil } }

    private static func unmap(_ state: inout State) {
        guard let ring = state.ring else { return }
        munmap(ring, state.capacity)
        memoryInUse.withLock { $0 -= state.capacity }
        state.ring = nil
        state.capacity = 0
    }

    /// Called under the lock: unmaps the ring once it is empty and no write to it can come (the
    /// producer only writes while not spilling, and not after the fill ended).
    private func releaseRingIfDone() {
        if state.ring != nil, state.filled == 0, state.spilling || state.ended { Self.unmap(&state) }
    }

    /// Sends the object while `fill` relays it here; a failed fill ends the body early (the
    /// connection closes: its headers are out).
    func follow(_ fill: @escaping @Sendable () async throws -> Void) {
        let task = Task { [self] in
            var failure: (any Error)?
            do { try await fill() } catch { failure = error }
            end(failure)
        }
        condition.lock()
        if !state.ended, !state.closed { state.task = task }
        condition.unlock()
    }

    /// The fill is over: no more `receive` calls.
    private func end(_ fillFailure: (any Error)?) {
        condition.lock()
        state.ended = true
        state.task = nil  // it holds the fill, which holds this relay: no cycle once it is over
        releaseRingIfDone()
        if state.failure == nil { state.failure = fillFailure }
        let failure = state.failure
        if state.spillFD >= 0 { Glibc.close(state.spillFD) }
        state.spillFD = -1
        let closed = state.closed, waiter = state.waiter
        state.waiter = nil
        condition.unlock()
        if closed { unlink(spillPath) }
        if let failure { waiter?.resume(throwing: failure) } else { waiter?.resume() }
    }

    // MARK: Producer (a curl transfer thread)

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            condition.lock()
            while !state.closed, !state.spilling, state.filled == state.capacity {
                guard state.capacity > 0, state.waited < maxWaitSeconds else {
                    state.spilling = true
                    break
                }
                state.producerWaiting = true
                let began = DispatchTime.now().uptimeNanoseconds
                _ = condition.wait(until: Date(timeIntervalSinceNow: maxWaitSeconds - state.waited))
                state.producerWaiting = false
                state.waited += Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            }
            if state.closed {
                condition.unlock()
                return false
            }
            if state.spilling {
                // Created under the lock, so `close()` either sees it to remove or stops us first.
                if state.spillFD < 0 { state.spillFD = open(spillPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
                let fd = state.spillFD, error = fd < 0 ? errno : 0
                condition.unlock()
                let rest = bytes.count - offset
                guard fd >= 0 else { return refuse("cannot create the spill file (errno \(error))") }
                guard writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[offset...])) else { return refuse("writing the spill file failed (errno \(errno))") }
                condition.lock()
                state.spilled += Int64(rest)
                let waiter = state.waiter
                state.waiter = nil
                condition.unlock()
                waiter?.resume()
                return true
            }
            let ring = state.ring!, capacity = state.capacity
            let writeAt = (state.readAt + state.filled) % capacity
            let count = min(capacity - state.filled, bytes.count - offset, capacity - writeAt)
            condition.unlock()
            ring.advanced(by: writeAt).copyMemory(from: base + offset, byteCount: count)
            condition.lock()
            state.filled += count
            let waiter = state.waiter
            state.waiter = nil
            condition.unlock()
            waiter?.resume()
            offset += count
        }
        return true
    }

    /// Stops the transfer, keeping why for the consumer.
    private func refuse(_ reason: String) -> Bool {
        condition.lock()
        if state.failure == nil { state.failure = Failed(description: reason) }
        condition.unlock()
        return false
    }

    // MARK: Consumer (the connection)

    func ready() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                condition.lock()
                if let failure = state.failure {
                    condition.unlock()
                    continuation.resume(throwing: failure)
                } else if state.filled > 0 || state.spilled > state.spillRead || state.ended || state.closed {
                    condition.unlock()
                    continuation.resume()
                } else if Task.isCancelled {  // cancelled before the handler could see a waiter
                    condition.unlock()
                    continuation.resume(throwing: CancellationError())
                } else {
                    state.waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            condition.lock()
            let waiter = state.waiter
            state.waiter = nil
            condition.unlock()
            waiter?.resume(throwing: CancellationError())
        }
    }

    func next(into buffer: inout [UInt8], maxBytes: Int) throws {
        condition.lock()
        if state.filled > 0 {
            let ring = state.ring!, capacity = state.capacity
            let at = state.readAt, count = min(state.filled, maxBytes, capacity - at)
            condition.unlock()
            buffer.append(contentsOf: UnsafeBufferPointer(start: ring.advanced(by: at).assumingMemoryBound(to: UInt8.self), count: count))
            condition.lock()
            state.readAt = (at + count) % capacity
            state.filled -= count
            if state.producerWaiting { condition.signal() }
            releaseRingIfDone()
            condition.unlock()
            return
        }
        releaseRingIfDone()
        let available = state.spilled - state.spillRead, from = state.spillRead
        condition.unlock()
        guard available > 0 else { return }
        if readFD < 0 {
            readFD = open(spillPath, O_RDONLY | O_CLOEXEC)
            guard readFD >= 0 else { throw Failed(description: "the spill file cannot be opened (errno \(errno))") }
        }
        let count = Int(min(Int64(maxBytes), available))
        // Read into fresh uninitialised storage, then appended in one copy (appending a repeated
        // zero element by element costs seconds per megabyte unoptimised).
        var n = 0
        let piece = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            n = pread(readFD, storage.baseAddress!, count, off_t(from))
            initialized = max(n, 0)
        }
        guard n > 0 else { throw Failed(description: "reading the spill file failed (errno \(errno))") }
        buffer.append(contentsOf: piece)
        condition.lock()
        state.spillRead += Int64(n)
        condition.unlock()
    }

    func close() {
        condition.lock()
        let first = !state.closed
        state.closed = true
        let task = state.ended ? nil : state.task, waiter = state.waiter
        state.waiter = nil
        state.task = nil
        condition.broadcast()  // a producer waiting for room gives up
        condition.unlock()
        guard first else { return }
        task?.cancel()  // the client went away: stop fetching for it
        waiter?.resume(throwing: CancellationError())
        if readFD >= 0 { Glibc.close(readFD) }
        readFD = -1
        unlink(spillPath)
        release()
    }
}
