import HTTP1
import Testing

/// A request as the parser reported it: head plus the concatenated body.
struct ParsedRequest: Equatable {
    var head: HTTPRequestHead
    var body: [UInt8]
}

/// Everything the parser produced from one input: complete requests, then maybe an error.
struct ParseOutcome: Equatable {
    var requests: [ParsedRequest] = []
    var error: HTTPParseError?
}

/// Feeds `input` in the given pieces and collects the outcome.
func parse(_ pieces: [ArraySlice<UInt8>], limits: ParserLimits = ParserLimits()) -> ParseOutcome {
    var parser = RequestParser(limits: limits)
    var outcome = ParseOutcome()
    var current: ParsedRequest?
    do {
        for piece in pieces {
            parser.append(piece)
            while let event = try parser.next() {
                switch event {
                case .head(let head): current = ParsedRequest(head: head, body: [])
                case .body(let bytes): current!.body += bytes
                case .end: outcome.requests.append(current!); current = nil
                }
            }
        }
    } catch {
        outcome.error = error
    }
    return outcome
}

/// Parses `input` whole, then split in two at every position (or every `stride`th for big inputs),
/// then one byte at a time, and checks every way of splitting gives the same outcome.
///
/// This is SwiftNIO's ByteToMessageDecoderVerifier idea: an incremental parser that depends on
/// how TCP happened to segment the stream is a smuggling bug waiting to happen.
@discardableResult
func parseAllSplits(_ text: String, limits: ParserLimits = ParserLimits(), sourceLocation: SourceLocation = #_sourceLocation) -> ParseOutcome {
    parseAllSplits(Array(text.utf8), limits: limits, sourceLocation: sourceLocation)
}

@discardableResult
func parseAllSplits(_ bytes: [UInt8], limits: ParserLimits = ParserLimits(), sourceLocation: SourceLocation = #_sourceLocation) -> ParseOutcome {
    let whole = parse([bytes[...]], limits: limits)
    let stride = max(1, bytes.count / 400)
    for cut in Swift.stride(from: 0, through: bytes.count, by: stride) {
        let split = parse([bytes[..<cut], bytes[cut...]], limits: limits)
        #expect(split == whole, "split at \(cut) differs", sourceLocation: sourceLocation)
        if split != whole { break }
    }
    if bytes.count <= 4096 {
        let byByte = parse(bytes.indices.map { bytes[$0...$0] }, limits: limits)
        #expect(byByte == whole, "byte-by-byte differs", sourceLocation: sourceLocation)
    }
    return whole
}
