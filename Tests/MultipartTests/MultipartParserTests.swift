import Multipart
import Testing

/// Parts as the consumer sees them: head and all its bytes, data pieces joined.
struct Part: Equatable {
    var head: MultipartPartHead
    var body: [UInt8]
}

func parse(_ body: [UInt8], boundary: String = "XyZ", pieces: [Int]? = nil, limits: MultipartLimits = MultipartLimits()) throws(MultipartError) -> [Part] {
    var parser = try MultipartParser(boundary: boundary, limits: limits)
    var events: [MultipartEvent] = []
    if let pieces {
        var start = 0
        for size in pieces {
            events += try parser.feed(body[start..<min(start + size, body.count)])
            start += size
        }
        events += try parser.feed(body[start...])
    } else {
        events = try parser.feed(body)
    }
    try parser.finish()
    var parts: [Part] = []
    var open = false
    for event in events {
        switch event {
        case .begin(let head):
            #expect(!open)
            parts.append(Part(head: head, body: []))
            open = true
        case .data(let bytes):
            #expect(open && !bytes.isEmpty)
            parts[parts.count - 1].body += bytes
        case .end:
            #expect(open)
            open = false
        }
    }
    #expect(!open)
    return parts
}

func crlf(_ lines: [String]) -> [UInt8] { Array(lines.joined(separator: "\r\n").utf8) }

/// A body like the `openai` SDK (httpx) sends: fields, then a file with binary bytes that contain
/// CR, LF, dashes and a near-boundary.
let sample: [UInt8] = crlf([
    "--XyZ",
    "Content-Disposition: form-data; name=\"prompt\"",
    "",
    "a lighthouse; at \"dusk\"",
    "--XyZ",
    "Content-Disposition: form-data; name=\"seconds\"",
    "",
    "8",
    "--XyZ",
    "Content-Disposition: form-data; name=\"input_reference\"; filename=\"frame.png\"",
    "Content-Type: image/png",
    "",
]) + Array("\r\n".utf8) + [0x89, 0x50, 0x4E, 0x47, 13, 10, 26, 10] + Array("\r\n--XyY\r\n-\r\n--Xy".utf8) + [0, 255]
    + Array("\r\n--XyZ--\r\n".utf8)

@Suite("multipart parser")
struct MultipartParserTests {
    @Test func readsFieldsAndAFileWhole() throws {
        let parts = try parse(sample)
        #expect(parts.map(\.head.name) == ["prompt", "seconds", "input_reference"])
        #expect(parts[0].body == Array("a lighthouse; at \"dusk\"".utf8))
        #expect(parts[1].body == Array("8".utf8))
        #expect(parts[2].head.filename == "frame.png" && parts[2].head.contentType == "image/png")
        #expect(parts[2].body == [0x89, 0x50, 0x4E, 0x47, 13, 10, 26, 10] + Array("\r\n--XyY\r\n-\r\n--Xy".utf8) + [0, 255])
    }

    @Test func givesTheSamePartsSplitAtEveryByte() throws {
        let whole = try parse(sample)
        for split in 0...sample.count {
            #expect(try parse(sample, pieces: [split]) == whole, "split at \(split)")
        }
        // And fed one byte at a time.
        #expect(try parse(sample, pieces: Array(repeating: 1, count: sample.count)) == whole)
    }

    @Test func toleratesAPreambleAnEpilogueAndPaddingAfterADelimiter() throws {
        let body = Array("ignored preamble\r\n--XyZ  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--\r\nepilogue bytes".utf8)
        let parts = try parse(body)
        #expect(parts == [Part(head: parts[0].head, body: [49])] && parts[0].head.name == "a")
    }

    @Test func anEmptyPartAndAPartWithoutHeadersLineEndings() throws {
        let body = crlf(["--XyZ", "Content-Disposition: form-data; name=\"empty\"", "", "", "--XyZ--"])
        let parts = try parse(body)
        #expect(parts.count == 1 && parts[0].body.isEmpty)
    }

    @Test func boundariesFromContentType() {
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=abc123") == "abc123")
        #expect(MultipartParser.boundary(contentType: "Multipart/Form-Data;BOUNDARY=\"a b:c\"") == "a b:c")
        #expect(MultipartParser.boundary(contentType: "multipart/mixed; boundary=abc") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "a", count: 71)) == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=a\u{0}b") == nil)
        #expect(MultipartParser.boundary(contentType: "multipart/form-data; boundary=\"ends in space \"") == nil)
    }

    @Test(arguments: [
        ("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1", MultipartError.Kind.truncated),  // no closing delimiter
        ("no delimiter at all", .truncated),
        ("--XyZ\r\nContent-Type: text/plain\r\n\r\n1\r\n--XyZ--", .malformed),  // no disposition
        ("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n--XyZ--", .malformed),
        ("--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\n1\r\n--XyZ--", .malformed),  // no name
        ("--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n1\r\n--XyZ--", .malformed),
        ("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n1\r\n--XyZ--", .malformed),  // unclosed quote
        ("--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n--XyZ--", .malformed),  // folded
        ("--XyZ\r\nContent-Disposition: form-data; name=a\nX: y\r\n\r\n1\r\n--XyZ--", .malformed),  // bare LF
        ("--XyZ\r\nBad Name: x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--", .malformed),
        ("--XyZjunk\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--", .malformed),  // delimiter then junk
    ]) func refusesMalformedBodies(_ body: String, _ kind: MultipartError.Kind) {
        #expect(throws: MultipartError.self) { try parse(Array(body.utf8)) }
        do {
            _ = try parse(Array(body.utf8))
        } catch {
            #expect(error.kind == kind, "\(body.debugDescription): \(error)")
        }
    }

    @Test func limitsHold() throws {
        var limits = MultipartLimits()
        limits.maxParts = 2
        #expect(throws: MultipartError(.tooManyParts, "a body may hold at most 2 parts")) { try parse(sample, limits: limits) }

        limits = MultipartLimits()
        limits.maxFieldBytes = 10
        #expect(throws: MultipartError(.fieldTooLarge, "a form field exceeds 10 bytes")) { try parse(sample, limits: limits) }
        // A file part is not a field: its size is the consumer's to bound.
        let file = crlf(["--XyZ", "Content-Disposition: form-data; name=f; filename=x", "", String(repeating: "z", count: 100), "--XyZ--"])
        #expect(try parse(file, limits: limits)[0].body.count == 100)

        limits = MultipartLimits()
        limits.maxFileBytes = 99
        #expect(throws: MultipartError(.fileTooLarge, "a file part exceeds 99 bytes")) { try parse(file, limits: limits) }
        #expect(throws: MultipartError.self) { try parse(file, pieces: Array(repeating: 7, count: 20), limits: limits) }

        limits = MultipartLimits()
        limits.maxHeaderBytes = 64
        let longHeader = crlf(["--XyZ", "Content-Disposition: form-data; name=a", "X-Long: " + String(repeating: "h", count: 100), "", "1", "--XyZ--"])
        #expect(throws: MultipartError.self) { try parse(longHeader, limits: limits) }
        // Headers that never end are refused once over the limit, not buffered without end.
        var parser = try MultipartParser(boundary: "XyZ", limits: limits)
        _ = try parser.feed(Array("--XyZ\r\nX: ".utf8))
        #expect(throws: MultipartError.self) { _ = try parser.feed(Array(repeating: UInt8(ascii: "a"), count: 100)) }

        limits = MultipartLimits()
        limits.maxHeadersPerPart = 2
        let many = crlf(["--XyZ", "Content-Disposition: form-data; name=a", "A: 1", "B: 2", "", "1", "--XyZ--"])
        #expect(throws: MultipartError.self) { try parse(many, limits: limits) }

        #expect(throws: MultipartError.self) { _ = try MultipartParser(boundary: "") }
        #expect(throws: MultipartError.self) { _ = try MultipartParser(boundary: "bad\"quote") }
    }

    @Test func limitsGiveTheSameVerdictHoweverTheBodyIsSplit() throws {
        // Headers of exactly the limit, and a preamble of exactly the limit: accepted whole and
        // byte by byte; one byte more: refused both ways (found by the fuzzer: a piecewise check
        // once refused what the whole body was allowed).
        var limits = MultipartLimits()
        limits.maxHeaderBytes = 64
        limits.maxPreambleBytes = 16
        let header = "Content-Disposition: form-data; name=a"
        for extra in [64 - header.utf8.count - 2 - 3, 64 - header.utf8.count - 2 - 2] {
            let line = "X: " + String(repeating: "h", count: extra)
            let body = crlf([String(repeating: "p", count: 14), "--XyZ", header, line, "", "1", "--XyZ--"])
            let fits = header.utf8.count + 2 + line.utf8.count <= 64
            for pieces in [nil, Array(repeating: 1, count: body.count)] {
                if fits {
                    #expect(try parse(body, pieces: pieces, limits: limits).count == 1)
                } else {
                    #expect(throws: MultipartError.self) { try parse(body, pieces: pieces, limits: limits) }
                }
            }
        }
        let late = crlf([String(repeating: "p", count: 17), "--XyZ", header, "", "1", "--XyZ--"])
        for pieces in [nil, Array(repeating: 1, count: late.count)] {
            #expect(throws: MultipartError.self) { try parse(late, pieces: pieces, limits: limits) }
        }
    }

    @Test func aFileStreamsInPiecesWithoutBufferingTheWhole() throws {
        // 1 MiB of file fed in 4 KiB pieces: every piece but the delimiter-sized tail comes out at once.
        var parser = try MultipartParser(boundary: "XyZ")
        _ = try parser.feed(Array("--XyZ\r\nContent-Disposition: form-data; name=f; filename=v.bin\r\n\r\n".utf8))
        var out = 0
        let piece = [UInt8](repeating: 7, count: 4096)
        for fed in 1...256 {
            for case .data(let bytes) in try parser.feed(piece) { out += bytes.count }
            #expect(fed * 4096 - out <= 7)  // at most a delimiter's length less one is held back
        }
        #expect(out >= 256 * 4096 - 8)
        for case .data(let bytes) in try parser.feed(Array("\r\n--XyZ--".utf8)) { out += bytes.count }
        #expect(out == 256 * 4096 && parser.isComplete)
    }
}
