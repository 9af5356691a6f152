import TestSupport
import Testing
import WebSocket

/// RFC 6455 frame parsing, by the Autobahn|Testsuite case group each test stands in for
/// (Autobahn itself is Python 2 only and does not run here). Every vector is parsed whole,
/// split at every byte and byte by byte (``parseAllSplits``).
@Suite struct WebSocketParserTests {
    // MARK: Group 1: framing (text and binary messages of every length class)

    @Test(arguments: [0, 1, 125, 126, 127, 128, 65_535, 65_536, 100_000])
    func group1TextOfEveryLengthClass(length: Int) async throws {
        let text = [UInt8](repeating: UInt8(ascii: "*"), count: length)
        let outcome = try await parseAllSplitsOffPool(frame(.text, text))
        #expect(outcome == FrameOutcome(events: [.text(text)]))
    }

    @Test func group1BinaryIsRefusedWith1003() {
        expectClose(parseAllSplits(frame(.binary, [1, 2, 3])), 1003)
        // Refused at its header, before the payload arrives.
        expectClose(feed([frame(.binary, [UInt8](repeating: 0, count: 1000))[0..<2]], maxMessageBytes: 1 << 20), 1003)
    }

    @Test func group1SeveralMessagesInOneRead() {
        let outcome = parseAllSplits(frame(.text, "one") + frame(.text, "") + frame(.text, "three"))
        #expect(outcome.events == [.text(Array("one".utf8)), .text([]), .text(Array("three".utf8))])
        #expect(outcome.error == nil)
    }

    @Test func group1UnmaskedClientFrameIs1002() {
        expectClose(parseAllSplits(WebSocketFrameEncoder.frame(.text, payload: Array("hi".utf8))), 1002)
    }

    @Test func group1LengthNotInShortestFormIs1002() {
        var sixteen = [0x81, 0xFE, 0x00, 0x05] + mask + [UInt8](repeating: 0x41, count: 5)
        expectClose(parseAllSplits(sixteen), 1002)
        sixteen = [0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00] + mask
        expectClose(parseAllSplits(sixteen), 1002)
        let topBit: [UInt8] = [0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01] + mask
        expectClose(parseAllSplits(topBit), 1002)
    }

    // MARK: Group 2: pings and pongs

    @Test func group2PingIsReportedWithItsPayload() {
        #expect(parseAllSplits(frame(.ping, "")) == FrameOutcome(events: [.ping([])]))
        let payload = [UInt8](0..<125)
        #expect(parseAllSplits(frame(.ping, payload)) == FrameOutcome(events: [.ping(payload)]))
    }

    @Test func group2PingOver125BytesIs1002() {
        expectClose(parseAllSplits(frame(.ping, [UInt8](repeating: 1, count: 126))), 1002)
    }

    @Test func group2FragmentedPingIs1002() {
        expectClose(parseAllSplits(frame(.ping, "a", fin: false) + frame(.continuation, "b")), 1002)
    }

    @Test func group2UnsolicitedPongAndTenPings() {
        var bytes = frame(.pong, "unsolicited")
        for i in 0..<10 { bytes += frame(.ping, "\(i)") }
        let outcome = parseAllSplits(bytes)
        #expect(outcome.events == [.pong(Array("unsolicited".utf8))] + (0..<10).map { .ping(Array("\($0)".utf8)) })
    }

    // MARK: Group 3: reserved bits

    @Test(arguments: [0x40, 0x20, 0x10, 0x70] as [UInt8])
    func group3ReservedBitsAre1002(bit: UInt8) {
        // After a good message, which is still reported.
        let outcome = parseAllSplits(frame(.text, "ok") + rawFrame(firstByte: 0x80 | bit | 0x1, Array("x".utf8)))
        #expect(outcome.events == [.text(Array("ok".utf8))])
        expectClose(outcome, 1002)
        expectClose(parseAllSplits(rawFrame(firstByte: 0x80 | bit | 0x9, [])), 1002)  // on a ping
        expectClose(parseAllSplits(rawFrame(firstByte: 0x80 | bit | 0x8, [0x03, 0xE8])), 1002)  // on a close
    }

    // MARK: Group 4: opcodes

    @Test(arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] as [UInt8])
    func group4ReservedOpcodesAre1002(opcode: UInt8) {
        let outcome = parseAllSplits(frame(.text, "before") + rawFrame(firstByte: 0x80 | opcode, Array("payload".utf8)) + frame(.ping, ""))
        #expect(outcome.events == [.text(Array("before".utf8))])
        expectClose(outcome, 1002)
    }

    // MARK: Group 5: fragmentation

    @Test func group5FragmentsAreReassembled() {
        let bytes = frame(.text, "frag", fin: false) + frame(.continuation, "", fin: false) + frame(.continuation, "ment", fin: false)
            + frame(.continuation, "ed")
        #expect(parseAllSplits(bytes) == FrameOutcome(events: [.text(Array("fragmented".utf8))]))
    }

    @Test func group5ControlFramesBetweenFragments() {
        let bytes = frame(.text, "a", fin: false) + frame(.ping, "p") + frame(.continuation, "b", fin: false) + frame(.pong, "q")
            + frame(.continuation, "c")
        #expect(parseAllSplits(bytes).events == [.ping(Array("p".utf8)), .pong(Array("q".utf8)), .text(Array("abc".utf8))])
    }

    @Test func group5ContinuationWithoutAMessageIs1002() {
        expectClose(parseAllSplits(frame(.continuation, "x")), 1002)
        expectClose(parseAllSplits(frame(.text, "done") + frame(.continuation, "x")), 1002)
    }

    @Test func group5NewMessageInsideAFragmentedOneIs1002() {
        expectClose(parseAllSplits(frame(.text, "a", fin: false) + frame(.text, "b")), 1002)
    }

    @Test func group5FragmentedCloseIs1002() {
        expectClose(parseAllSplits(frame(.close, [0x03, 0xE8], fin: false)), 1002)
    }

    // MARK: Group 6: UTF-8

    @Test(arguments: ["κόσμε", "Hello-µ@ßöäüàá-UTF-8!!", "\u{10FFFF}", "\u{FFFF}", "\u{D7FF}\u{E000}", "𝄞 and 😀"])
    func group6ValidUTF8(text: String) {
        #expect(parseAllSplits(frame(.text, text)) == FrameOutcome(events: [.text(Array(text.utf8))]))
        // Cut mid-character across fragments.
        let bytes = Array(text.utf8)
        for cut in 0...bytes.count {
            let split = frame(.text, Array(bytes[..<cut]), fin: false) + frame(.continuation, Array(bytes[cut...]))
            #expect(feed([split[...]], maxMessageBytes: 1 << 20) == FrameOutcome(events: [.text(bytes)]))
        }
    }

    static let invalidUTF8: [[UInt8]] = [
        [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],  // surrogate
        [0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xF0, 0x80, 0x80, 0xAF],  // stray, overlong
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFE], [0xFF],  // past U+10FFFF, never valid
        [0xED, 0xBF, 0xBF], [0xE1, 0x41], [0xF0, 0x90, 0x41],  // surrogate, truncated sequences
        [0xC2],  // ends mid-character
    ]

    @Test(arguments: invalidUTF8)
    func group6InvalidUTF8Is1007(bytes: [UInt8]) {
        expectClose(parseAllSplits(frame(.text, bytes)), 1007)
        expectClose(parseAllSplits(frame(.text, bytes, fin: false) + frame(.continuation, "")), 1007)
    }

    /// Fail fast: the error comes with the bad byte, before the rest of the frame arrives.
    @Test func group6InvalidUTF8FailsAtTheBadByte() {
        let bytes = frame(.text, [0x41, 0xF4, 0x90] + [UInt8](repeating: 0x41, count: 1000))
        let header = 2 + 2 + 4
        expectClose(feed([bytes[..<(header + 3)]], maxMessageBytes: 1 << 20), 1007)
        #expect(feed([bytes[..<(header + 2)]], maxMessageBytes: 1 << 20).error == nil)
        // Across fragments: the first fragment is fine alone, the second byte of the next is not.
        let fragments = frame(.text, [0xF4], fin: false) + frame(.continuation, [0x90, 0x80, 0x80])
        expectClose(parseAllSplits(fragments), 1007)
    }

    // MARK: Group 7: close handling

    @Test func group7CloseWithoutAndWithCode() {
        #expect(parseAllSplits(frame(.close, [])) == FrameOutcome(events: [.close(nil, reason: "")]))
        let payload = WebSocketFrameEncoder.closePayload(.normal, reason: "bye ✓")
        #expect(parseAllSplits(frame(.close, payload)) == FrameOutcome(events: [.close(.normal, reason: "bye ✓")]))
    }

    @Test func group7NothingIsReadAfterClose() {
        let outcome = parseAllSplits(frame(.close, [0x03, 0xE8]) + frame(.text, "late") + [0xFF, 0xFF])
        #expect(outcome == FrameOutcome(events: [.close(.normal, reason: "")]))
    }

    @Test func group7OneBytePayloadIs1002() {
        expectClose(parseAllSplits(frame(.close, [0x03])), 1002)
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func group7InvalidCodesAre1002(code: UInt16) {
        expectClose(parseAllSplits(frame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])), 1002)
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] as [UInt16])
    func group7ValidCodes(code: UInt16) {
        let outcome = parseAllSplits(frame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)]))
        #expect(outcome == FrameOutcome(events: [.close(WebSocketCloseCode(rawValue: code), reason: "")]))
    }

    @Test func group7InvalidUTF8ReasonIs1007() {
        expectClose(parseAllSplits(frame(.close, [0x03, 0xE8, 0xCE, 0xBA, 0xED, 0xA0, 0x80])), 1007)
    }

    @Test func group7ReasonOf123BytesAndTooLongControl() {
        let reason = String(repeating: "r", count: 123)
        #expect(parseAllSplits(frame(.close, [0x03, 0xE8] + Array(reason.utf8))).events == [.close(.normal, reason: reason)])
        expectClose(parseAllSplits(frame(.close, [0x03, 0xE8] + Array((reason + "r").utf8))), 1002)
    }

    @Test func group7ClosePayloadIsCutOnACharacterBoundary() {
        let payload = WebSocketFrameEncoder.closePayload(.policyViolation, reason: String(repeating: "é", count: 100))
        #expect(payload.count <= 125)
        #expect(feed([frame(.close, payload)[...]], maxMessageBytes: 10).events.count == 1)
    }

    // MARK: Group 9: limits (large messages, many fragments)

    @Test func group9MessageAtTheLimitAndOneByteOver() async throws {
        let limit = 70_000
        let atLimit = [UInt8](repeating: 0x61, count: limit)
        #expect(try await parseAllSplitsOffPool(frame(.text, atLimit), maxMessageBytes: limit).events == [.text(atLimit)])
        expectClose(try await parseAllSplitsOffPool(frame(.text, atLimit + [0x61]), maxMessageBytes: limit), 1009)
    }

    /// Refused at the header that would pass the limit: its payload is never buffered.
    @Test func group9OverLimitIsRefusedBeforeThePayload() {
        let bytes = frame(.text, [UInt8](repeating: 0x61, count: 5000))
        expectClose(feed([bytes[..<8]], maxMessageBytes: 4096), 1009)
        let fragments = frame(.text, [UInt8](repeating: 0x61, count: 3000), fin: false) + frame(.continuation, [UInt8](repeating: 0x61, count: 2000))
        let outcome = parseAllSplits(fragments, maxMessageBytes: 4096)
        expectClose(outcome, 1009)
        #expect(outcome.events.isEmpty)
    }

    @Test func group9ManySmallFragments() async throws {
        let outcome = try await parseAllSplitsOffPool(
            frame(.text, "s", fin: false) + (0..<2000).flatMap { _ in frame(.continuation, "x", fin: false) } + frame(.continuation, "e"))
        #expect(outcome.events == [.text(Array(("s" + String(repeating: "x", count: 2000) + "e").utf8))])
    }

    /// Reads that each end one byte into the next frame's header must not make the parser keep
    /// everything consumed before (an unauthenticated peer streaming empty pongs).
    @Test func group9ConsumedBytesAreNotKept() throws {
        var parser = WebSocketParser(maxMessageBytes: 1024)
        let pong = frame(.pong, [])
        var stream: [UInt8] = []
        for _ in 0..<20_000 { stream += pong }
        var offset = 0
        var maxStored = 0
        while offset < stream.count {
            let end = min(stream.count, offset + 4097)  // never a whole number of frames
            parser.append(stream[offset..<end])
            while try parser.next() != nil {}
            maxStored = max(maxStored, parser.storedByteCount)
            offset = end
        }
        #expect(maxStored < 3 * 4097, "the parser kept \(maxStored) bytes")
    }

    @Test func group9AMegabyteMessage() async throws {
        let text = TestBytes.repeating((0..<90).map { UInt8(0x20 + $0) }, count: 1 << 20)
        // Whole, and cut at a few places (every byte would take minutes in a debug build), on a
        // thread of its own (seconds of CPU in a debug build).
        let outcomes = try await OffPool.run {
            let bytes = frame(.text, text)
            return [[], [1], [9], [5000, 70_000], [bytes.count - 1]].map { cuts in
                feed(zip([0] + cuts, cuts + [bytes.count]).map { bytes[$0..<$1] }, maxMessageBytes: 1 << 20).events
            }
        }
        for events in outcomes { #expect(events == [.text(text)]) }
    }
}
