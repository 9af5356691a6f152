import Dispatch
import Glibc
import Synchronization

/// Closes connections refused over a connection cap the way RFC 9112 §9.6 asks of a server that
/// closes: the peer's request may still be on its way when the 503 and our FIN go out, and input
/// that is unread at the close, or that arrives after it, makes the kernel answer with a reset,
/// which can destroy the 503 in the client's receive buffer before the client reads it. So a
/// refused socket is kept, its input read and dropped, until the peer closes, 64 KiB have been
/// dropped, or the linger timeout passes.
///
/// At most `capacity` refusals linger at once; past that (a flood of connections), the rest are
/// closed at once after reading what input is already there, so refusing never holds more than a
/// bounded set of descriptors, each with a dispatch source on the server's control queue. A
/// server that drains closes them all (``closeAll()``).
final class RefusalLinger: Sendable {
    private let queue: DispatchQueue
    private let capacity: Int
    private let timeout: Duration
    private let closeDescriptor: @Sendable (Int32) -> Void
    private let lingering = Atomic<Int>(0)
    /// The lingering sockets' sources, by descriptor.
    private let sources = Mutex<[Int32: SourceBox<any DispatchSourceRead>]>([:])
    private static let discardLimit = 64 * 1024

    init(queue: DispatchQueue, capacity: Int, timeout: Duration, closeDescriptor: @escaping @Sendable (Int32) -> Void) {
        self.queue = queue
        self.capacity = capacity
        self.timeout = timeout
        self.closeDescriptor = closeDescriptor
    }

    /// Refusals lingering now.
    var count: Int { lingering.load(ordering: .relaxed) }

    /// Takes `fd` (its response sent, its output shut down) and closes it once the peer is done.
    func close(_ fd: Int32) {
        guard lingering.add(1, ordering: .relaxed).newValue <= capacity else {
            lingering.subtract(1, ordering: .relaxed)
            _ = Self.discard(fd, upTo: Self.discardLimit)
            closeDescriptor(fd)
            return
        }
        let box = SourceBox(DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue))
        let discarded = Mutex(0)
        box.source.setEventHandler { @Sendable in
            let room = Self.discardLimit - discarded.withLock { $0 }
            let (count, done) = Self.discard(fd, upTo: room)
            discarded.withLock { $0 += count }
            if done || count >= room { box.source.cancel() }
        }
        // The descriptor is closed only once the source is cancelled, never under it; it leaves
        // the table first, so a refusal given the same number next is never mistaken for it.
        // Input already there is dropped first (a timeout or a drain cancels with the request
        // perhaps unread, and unread input turns the close into a reset).
        box.source.setCancelHandler { @Sendable [self] in
            sources.withLock { _ = $0.removeValue(forKey: fd) }
            let room = Self.discardLimit - discarded.withLock { $0 }
            if room > 0 { _ = Self.discard(fd, upTo: room) }
            closeDescriptor(fd)
            lingering.subtract(1, ordering: .relaxed)
        }
        sources.withLock { $0[fd] = box }
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(timeout.nanoseconds))) { @Sendable in box.source.cancel() }
        box.source.resume()
    }

    /// Closes every lingering refusal now (the server is draining).
    func closeAll() {
        for box in sources.withLock({ Array($0.values) }) { box.source.cancel() }
    }

    /// Reads and drops up to `limit` bytes that are there now; how many, and whether the peer has
    /// closed (or the socket failed), which ends the linger.
    private static func discard(_ fd: Int32, upTo limit: Int) -> (count: Int, done: Bool) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < limit {
            let n = recv(fd, &buffer, min(buffer.count, limit - total), Int32(MSG_DONTWAIT))
            if n > 0 {
                total += n
                continue
            }
            if n < 0, errno == EINTR { continue }
            return (total, !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        }
        return (total, false)
    }
}
