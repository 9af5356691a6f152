import WebSocket
import Testing

/// Everything the parser produced from one input: events, then maybe the error that ends it.
struct FrameOutcome: Equatable, CustomStringConvertible {
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

/// Parses whole, split in two at every position, and byte by byte (SwiftNIO's decoder
/// verifier idea): the outcome must not depend on how TCP cut the stream.
@discardableResult
func parseAllSplits(_ bytes: [UInt8], maxMessageBytes: Int = 1 << 20, sourceLocation: SourceLocation = #_sourceLocation) -> FrameOutcome {
    let whole = feed([bytes[...]], maxMessageBytes: maxMessageBytes)
    let stride = max(1, bytes.count / 300)
    for cut in Swift.stride(from: 0, through: bytes.count, by: stride) {
        let split = feed([bytes[..<cut], bytes[cut...]], maxMessageBytes: maxMessageBytes)
        #expect(split == whole, "split at \(cut) differs", sourceLocation: sourceLocation)
        if split != whole { break }
    }
    if bytes.count <= 20_000 {
        let byByte = feed(bytes.indices.map { bytes[$0...$0] }, maxMessageBytes: maxMessageBytes)
        #expect(byByte == whole, "byte-by-byte differs", sourceLocation: sourceLocation)
    }
    return whole
}

func expectClose(_ outcome: FrameOutcome, _ code: UInt16, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.error?.closeCode.rawValue == code, "\(outcome)", sourceLocation: sourceLocation)
}
