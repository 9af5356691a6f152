import HTTP1
import TestSupport
import Testing

/// A request as the parser reported it: head plus the concatenated body.
struct ParsedRequest: Equatable, Sendable {
    var head: HTTPRequestHead
    var body: [UInt8]
}

/// Everything the parser produced from one input: complete requests, then maybe an error.
struct ParseOutcome: Equatable, Sendable {
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

func checkAllSplits(_ bytes: [UInt8], limits: ParserLimits) -> SplitCheck<ParseOutcome> {
    SplitCheck(bytes, cuts: Swift.stride(from: 0, through: bytes.count, by: max(1, bytes.count / 400)), byteByByteUpTo: 4096) {
        parse($0, limits: limits)
    }
}

@discardableResult
func parseAllSplits(_ bytes: [UInt8], limits: ParserLimits = ParserLimits(), sourceLocation: SourceLocation = #_sourceLocation) -> ParseOutcome {
    let check = checkAllSplits(bytes, limits: limits)
    #expect(check.difference == nil, sourceLocation: sourceLocation)
    return check.whole
}

/// ``parseAllSplits`` on a thread of its own, for inputs of kilobytes: 400 parses of 16 KiB
/// take a debug build a second of CPU, and the suite's cooperative pool has one thread per
/// core, so a test computing on it stalls every other test's awaits.
func parseAllSplitsOffPool(_ text: String, limits: ParserLimits = ParserLimits(), sourceLocation: SourceLocation = #_sourceLocation) async throws -> ParseOutcome {
    let bytes = Array(text.utf8)
    let check = try await OffPool.run { checkAllSplits(bytes, limits: limits) }
    #expect(check.difference == nil, sourceLocation: sourceLocation)
    return check.whole
}
