import Foundation
import Synchronization
@testable import Gateway
import TestSupport
import Testing

/// The relay of an object from the store to a client: memory while the client keeps up, a local
/// file for the rest once the store has waited long enough, the bytes in order either way.
@Suite("Relayed object", .timeLimit(.minutes(1)))
struct RelayedObjectTests {
    /// Small, so that pieces of 30,001 and 65,536 bytes meet its end at many offsets.
    static let ring = 96 << 10

    static func byte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 31 &+ i >> 9) }

    /// Feeds `total` pattern bytes to `relay` on a thread of its own (a curl transfer thread
    /// blocks there), in pieces of uneven sizes; true when every piece was taken.
    static func produce(_ relay: RelayedObject, total: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            Thread {
                var sent = 0, piece = 30_001
                while sent < total {
                    let count = min(piece, total - sent)
                    let bytes = (sent..<(sent + count)).map(byte)
                    guard bytes.withUnsafeBytes({ relay.receive($0) }) else { return continuation.resume(returning: false) }
                    sent += count
                    piece = piece == 30_001 ? 65_536 : 30_001
                }
                continuation.resume(returning: true)
            }.start()
        }
    }

    /// Reads the body as the connection does; the count of bytes whose value was wrong.
    static func consume(_ relay: RelayedObject, total: Int, from start: Int = 0) async throws -> (received: Int, wrong: Int) {
        var received = 0, wrong = 0
        var buffer: [UInt8] = []
        while received < total {
            try await relay.ready()
            buffer.removeAll(keepingCapacity: true)
            try relay.next(into: &buffer, maxBytes: 20_000)
            if buffer.isEmpty { break }
            for (i, value) in buffer.enumerated() where value != byte(start + received + i) { wrong += 1 }
            received += buffer.count
        }
        return (received, wrong)
    }

    @Test func aClientThatKeepsUpIsServedFromMemoryAlone() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let total = 3 * Self.ring + 12_345
        let relay = RelayedObject(spillPath: dir.file("spill"), ringBytes: Self.ring, maxWaitSeconds: 60)
        relay.follow { guard await Self.produce(relay, total: total) else { throw CancellationError() } }
        let (received, wrong) = try await Self.consume(relay, total: total)
        #expect(received == total && wrong == 0)
        try await relay.ready()  // the end
        var rest: [UInt8] = []
        try relay.next(into: &rest, maxBytes: 64 << 10)
        #expect(rest.isEmpty)
        #expect(relay.spilledBytes == 0 && !relay.holdsRing)  // ended and emptied: given back
        #expect(!FileManager.default.fileExists(atPath: dir.file("spill")))
        relay.close()
    }

    @Test func aStalledClientNoLongerHoldsTheTransferAndGetsTheRestFromDisk() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let total = 2 * Self.ring + 1000
        let released = Atomic(false)
        let relay = RelayedObject(spillPath: dir.file("spill"), ringBytes: Self.ring, maxWaitSeconds: 0.05) {
            released.store(true, ordering: .relaxed)
        }
        // Nothing is read until the whole transfer has been taken: it must not wait for the client.
        #expect(await Self.produce(relay, total: total))
        #expect(relay.spilledBytes == Int64(total - Self.ring))  // the ring full, then the rest to disk
        #expect(FileManager.default.fileExists(atPath: dir.file("spill")))
        relay.follow {}
        var buffer: [UInt8] = []
        try await relay.ready()
        try relay.next(into: &buffer, maxBytes: Self.ring)
        #expect(buffer.count == Self.ring && !relay.holdsRing)  // emptied, never written again: given back
        let (received, wrong) = try await Self.consume(relay, total: total - Self.ring, from: Self.ring)
        #expect(received == total - Self.ring && wrong == 0)
        let releasedBeforeClose = released.load(ordering: .relaxed)
        #expect(!releasedBeforeClose)
        relay.close()
        let releasedAfterClose = released.load(ordering: .relaxed)
        #expect(releasedAfterClose)  // the staging budget, once the spill file is gone
        #expect(!FileManager.default.fileExists(atPath: dir.file("spill")))
    }

    @Test func aClientThatGoesAwayStopsAWaitingTransfer() async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let relay = RelayedObject(spillPath: dir.file("spill"), ringBytes: Self.ring, maxWaitSeconds: 600)
        let finished = Atomic(false)
        let producer = Task {
            defer { finished.store(true, ordering: .relaxed) }
            return await Self.produce(relay, total: 2 * Self.ring)
        }
        while !relay.producerIsWaiting, !finished.load(ordering: .relaxed) { await Task.yield() }
        #expect(relay.producerIsWaiting)  // the ring is full: the transfer waits for room
        relay.close()
        #expect(await producer.value == false)  // at once, not after the 600 s the wait could last
        #expect(relay.spilledBytes == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.file("spill")))
    }
}
