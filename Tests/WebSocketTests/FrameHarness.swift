import TestSupport
import Testing
import WebSocket

/// Everything the parser produced from one input: events, then maybe the error that ends it.
struct FrameOutcome: Equatable, Sendable, CustomStringConvertible {
    var events: [WebSocketEvent] = []
    var error: WebSocketError?

    var description: String { "\(events.map { "\($0)".prefix(60) }) \(error.map { "\($0)" } ?? "no error")" }
}

let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]

/// A masked client frame.
func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
    WebSocketFrameEncoder.frame(opcode, payload: payload, fin: fin, maskingKey: mask)
}

func frame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) -> [UInt8] { frame(opcode, Array(text.utf8), fin: fin) }

/// A masked frame with its first byte replaced (reserved bits, reserved opcodes).
func rawFrame(firstByte: UInt8, _ payload: [UInt8]) -> [UInt8] {
    var bytes = frame(.text, payload)
    bytes[0] = firstByte
    return bytes
}

func feed(_ pieces: [ArraySlice<UInt8>], maxMessageBytes: Int) -> FrameOutcome {
    var parser = WebSocketParser(maxMessageBytes: maxMessageBytes)
    var outcome = FrameOutcome()
    do {
        for piece in pieces {
            parser.append(piece)
            while let event = try parser.next() { outcome.events.append(event) }
        }
    } catch {
        outcome.error = error
    }
    return outcome
}

/// Where a split is tried. Small inputs: every position. Large ones: every position in the
/// first 32 bytes (header, extended length, masking key; every phase of the masking key) and the
/// last 16, and 32 spread in between: the payload between takes one path, and a
/// debug build parses a 100 KB frame 300 times in seconds of CPU that every test shares.
func splitPositions(_ count: Int) -> [Int] {
    guard count > 2048 else { return Array(0...count) }
    let spread = (1...32).map { 32 + $0 * (count - 64) / 33 + $0 % 4 }
    return Array(0..<32) + spread + Array((count - 16)...count)
}

func checkAllSplits(_ bytes: [UInt8], maxMessageBytes: Int) -> SplitCheck<FrameOutcome> {
    SplitCheck(bytes, cuts: splitPositions(bytes.count), byteByByteUpTo: 20_000) { feed($0, maxMessageBytes: maxMessageBytes) }
}

/// Parses whole, split in two at every position, and byte by byte (SwiftNIO's decoder
/// verifier idea): the outcome must not depend on how TCP cut the stream.
@discardableResult
func parseAllSplits(_ bytes: [UInt8], maxMessageBytes: Int = 1 << 20, sourceLocation: SourceLocation = #_sourceLocation) -> FrameOutcome {
    let check = checkAllSplits(bytes, maxMessageBytes: maxMessageBytes)
    #expect(check.difference == nil, sourceLocation: sourceLocation)
    return check.whole
}

/// ``parseAllSplits`` on a thread of its own, for inputs large enough to hold a thread for a
/// while: the suite's cooperative pool has one thread per core, and a test computing on it for
/// seconds stalls every other test's awaits (and trips their servers' idle timeouts).
/// (The input is made there too: masking a large frame is per-byte work as well.)
func parseAllSplitsOffPool(_ bytes: @autoclosure @escaping @Sendable () -> [UInt8], maxMessageBytes: Int = 1 << 20,
                           sourceLocation: SourceLocation = #_sourceLocation) async throws -> FrameOutcome {
    let check = try await OffPool.run { checkAllSplits(bytes(), maxMessageBytes: maxMessageBytes) }
    #expect(check.difference == nil, sourceLocation: sourceLocation)
    return check.whole
}

func expectClose(_ outcome: FrameOutcome, _ code: UInt16, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.error?.closeCode.rawValue == code, "\(outcome)", sourceLocation: sourceLocation)
}
