import Foundation
import HTTP1
import Testing

@Suite("RequestParser: valid requests")
struct RequestParserValidTests {
    @Test func simpleGet() throws {
        let out = parseAllSplits("GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n")
        #expect(out.error == nil)
        let req = try #require(out.requests.first)
        #expect(req.head.method == "GET")
        #expect(req.head.path == "/healthz")
        #expect(req.head.query == "x=1")
        #expect(req.head.version == .http11)
        #expect(req.head.headers["user-agent"] == "t")
        #expect(req.head.keepAlive)
        #expect(req.body.isEmpty)
    }

    @Test func contentLengthBody() throws {
        let out = parseAllSplits("POST /v1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
        let req = try #require(out.requests.first)
        #expect(out.error == nil)
        #expect(req.head.framing == .contentLength(11))
        #expect(String(decoding: req.body, as: UTF8.self) == "hello world")
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let raw = "POST /v1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6 ; q=\"a \\\"b\"\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let out = parseAllSplits(raw)
        #expect(out.error == nil)
        let req = try #require(out.requests.first)
        #expect(req.head.framing == .chunked)
        #expect(String(decoding: req.body, as: UTF8.self) == "hello world")
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let raw = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
            + "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        let out = parseAllSplits(raw)
        #expect(out.error == nil)
        #expect(out.requests.map(\.head.path) == ["/a", "/b", "/c"])
        #expect(out.requests[1].body == Array("xyz".utf8))
        #expect(out.requests[2].head.keepAlive == false)
    }

    @Test func leadingEmptyLineIsIgnored() {
        let out = parseAllSplits("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(out.error == nil)
        #expect(out.requests.count == 1)
    }

    @Test func duplicateHeadersAreKept() throws {
        let out = parseAllSplits("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
        let req = try #require(out.requests.first)
        #expect(req.head.headers.values("X-A") == ["1", "2"])
    }

    @Test func optionalWhitespaceAroundValuesIsTrimmed() throws {
        let out = parseAllSplits("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v w \t\r\n\r\n")
        let req = try #require(out.requests.first)
        #expect(req.head.headers["x-a"] == "v w")
    }

    @Test func expectContinueAndHead() throws {
        let out = parseAllSplits("HEAD / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok")
        let req = try #require(out.requests.first)
        #expect(req.head.method == "HEAD")
        #expect(req.head.expectsContinue)
        #expect(!req.head.hasUnsupportedExpectation)
    }

    @Test func http10ClosesAndNeedsNoHost() throws {
        let out = parseAllSplits("GET / HTTP/1.0\r\n\r\n")
        let req = try #require(out.requests.first)
        #expect(req.head.version == .http10)
        #expect(!req.head.keepAlive)
    }

    @Test func absoluteFormTargetUsesItsPath() throws {
        let out = parseAllSplits("GET http://example.com/p/q?z=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let req = try #require(out.requests.first)
        #expect(req.head.path == "/p/q")
        #expect(req.head.query == "z=1")
    }

    @Test func optionsAsterisk() {
        #expect(parseAllSplits("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").error == nil)
    }

    @Test func zeroContentLengthAndChunkedUpperHex() throws {
        let out = parseAllSplits(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
                + "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n")
        #expect(out.error == nil)
        #expect(out.requests.count == 2)
        #expect(out.requests[1].body.count == 10)
    }

    @Test func bodyExactlyAtTheLimitIsAccepted() {
        let limits = ParserLimits(maxBodyBytes: 10)
        let out = parseAllSplits("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits)
        #expect(out.error == nil)
    }
}

/// One malformed or hostile input and the error it must produce.
struct BadInput: CustomTestStringConvertible, Sendable {
    let name: String
    let raw: String
    let error: HTTPParseError
    var testDescription: String { name }
}

private let host = "Host: a\r\n"

@Suite("RequestParser: framing rules and smuggling vectors")
struct RequestParserRejectionTests {
    static let cases: [BadInput] = [
        // RFC 9112 §6.1 / §6.3: request smuggling vectors.
        BadInput(name: "CL + TE", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", error: .contentLengthWithTransferEncoding),
        BadInput(name: "TE + CL", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", error: .contentLengthWithTransferEncoding),
        BadInput(name: "duplicate identical CL", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", error: .multipleContentLength),
        BadInput(name: "duplicate differing CL", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello", error: .multipleContentLength),
        BadInput(name: "CL list", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 5, 5\r\n\r\nhello", error: .multipleContentLength),
        BadInput(name: "CL with sign", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\nhello", error: .invalidContentLength),
        BadInput(name: "CL negative", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", error: .invalidContentLength),
        BadInput(name: "CL hex", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 0x5\r\n\r\nhello", error: .invalidContentLength),
        BadInput(name: "CL empty", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: \r\n\r\n", error: .invalidContentLength),
        BadInput(name: "CL overflow", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n", error: .invalidContentLength),
        BadInput(name: "CL internal space", raw: "POST / HTTP/1.1\r\n\(host)Content-Length: 1 2\r\n\r\n", error: .invalidContentLength),
        BadInput(name: "TE not ending in chunked", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", error: .transferEncodingNotChunked),
        BadInput(name: "TE identity", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: identity\r\n\r\n", error: .transferEncodingNotChunked),
        BadInput(name: "TE chunked with junk", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\n\r\n", error: .transferEncodingNotChunked),
        BadInput(name: "TE empty element", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: ,chunked\r\n\r\n", error: .transferEncodingNotChunked),
        BadInput(name: "TE gzip then chunked", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n", error: .unsupportedTransferCoding),
        BadInput(name: "TE chunked twice (two fields)", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", error: .unsupportedTransferCoding),
        BadInput(name: "TE in HTTP/1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", error: .transferEncodingInHTTP10),
        BadInput(name: "TE with vertical tab", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: \u{0B}chunked\r\n\r\n", error: .invalidHeaderValue),
        // RFC 9112 §7.1: chunk framing.
        BadInput(name: "chunk size not hex", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nzz\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size negative", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n-1\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size with 0x", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size leading space", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size trailing space only", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size 17 digits", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size overflow", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk size empty", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n\r\n", error: .invalidChunkSize),
        BadInput(name: "chunk ext without name", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n", error: .invalidChunkExtension),
        BadInput(name: "chunk ext bad value", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n", error: .invalidChunkExtension),
        BadInput(name: "chunk ext unterminated quote", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n", error: .invalidChunkExtension),
        BadInput(name: "chunk ext too long", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5;a=" + String(repeating: "x", count: 2000) + "\r\nhello\r\n", error: .chunkExtensionTooLong),
        BadInput(name: "chunk data without CRLF", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", error: .missingChunkTerminator),
        BadInput(name: "chunk data with bare LF", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", error: .missingChunkTerminator),
        BadInput(name: "chunk data too long", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", error: .missingChunkTerminator),
        BadInput(name: "bad trailer", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n", error: .invalidTrailer),
        BadInput(name: "trailer section too large", raw: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nX: " + String(repeating: "y", count: 5000) + "\r\n\r\n", error: .trailerSectionTooLarge),
        // RFC 9112 §2.2, §5: lines and fields.
        BadInput(name: "obs-fold", raw: "GET / HTTP/1.1\r\n\(host)X-A: 1\r\n  continued\r\n\r\n", error: .obsoleteLineFolding),
        BadInput(name: "obs-fold with tab", raw: "GET / HTTP/1.1\r\n\(host)X-A: 1\r\n\tcontinued\r\n\r\n", error: .obsoleteLineFolding),
        BadInput(name: "space before colon", raw: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", error: .whitespaceBeforeColon),
        BadInput(name: "tab before colon", raw: "GET / HTTP/1.1\r\n\(host)Content-Length\t: 0\r\n\r\n", error: .whitespaceBeforeColon),
        BadInput(name: "bare CR in value", raw: "GET / HTTP/1.1\r\n\(host)X-A: a\rb\r\n\r\n", error: .bareCR),
        BadInput(name: "bare CR in request line", raw: "GET /\r HTTP/1.1\r\n\(host)\r\n", error: .bareCR),
        BadInput(name: "bare LF ends request line", raw: "GET / HTTP/1.1\n\(host)\r\n", error: .bareLF),
        BadInput(name: "bare LF ends header", raw: "GET / HTTP/1.1\r\nHost: a\n\r\n", error: .bareLF),
        BadInput(name: "bare LF ends head", raw: "GET / HTTP/1.1\r\n\(host)\n", error: .bareLF),
        BadInput(name: "NUL in value", raw: "GET / HTTP/1.1\r\n\(host)X-A: a\u{0}b\r\n\r\n", error: .invalidHeaderValue),
        BadInput(name: "DEL in value", raw: "GET / HTTP/1.1\r\n\(host)X-A: a\u{7F}b\r\n\r\n", error: .invalidHeaderValue),
        BadInput(name: "name with @", raw: "GET / HTTP/1.1\r\n\(host)X@A: 1\r\n\r\n", error: .invalidHeaderName),
        BadInput(name: "empty name", raw: "GET / HTTP/1.1\r\n\(host): 1\r\n\r\n", error: .invalidHeaderName),
        BadInput(name: "no colon", raw: "GET / HTTP/1.1\r\n\(host)X-A\r\n\r\n", error: .invalidHeaderName),
        BadInput(name: "missing Host", raw: "GET / HTTP/1.1\r\n\r\n", error: .missingHost),
        BadInput(name: "two Host fields", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", error: .multipleHost),
        BadInput(name: "Host with slash", raw: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", error: .invalidHeaderValue),
        // RFC 9112 §3: request line.
        BadInput(name: "double space", raw: "GET  / HTTP/1.1\r\n\(host)\r\n", error: .invalidRequestLine),
        BadInput(name: "missing version", raw: "GET /\r\n\(host)\r\n", error: .invalidRequestLine),
        BadInput(name: "trailing space after version", raw: "GET / HTTP/1.1 \r\n\(host)\r\n", error: .invalidRequestLine),
        BadInput(name: "tab separator", raw: "GET\t/ HTTP/1.1\r\n\(host)\r\n", error: .invalidRequestLine),
        BadInput(name: "method with bad char", raw: "GE(T / HTTP/1.1\r\n\(host)\r\n", error: .invalidMethod),
        BadInput(name: "lower-case version", raw: "GET / http/1.1\r\n\(host)\r\n", error: .invalidVersion),
        BadInput(name: "version with junk", raw: "GET / HTTP/1.1x\r\n\(host)\r\n", error: .invalidVersion),
        BadInput(name: "HTTP/2.0", raw: "GET / HTTP/2.0\r\n\(host)\r\n", error: .unsupportedVersion),
        BadInput(name: "HTTP/0.9", raw: "GET / HTTP/0.9\r\n\(host)\r\n", error: .unsupportedVersion),
        BadInput(name: "non-ASCII target", raw: "GET /caf\u{E9} HTTP/1.1\r\n\(host)\r\n", error: .invalidRequestTarget),
        BadInput(name: "relative target", raw: "GET index.html HTTP/1.1\r\n\(host)\r\n", error: .invalidRequestTarget),
        BadInput(name: "asterisk outside OPTIONS", raw: "GET * HTTP/1.1\r\n\(host)\r\n", error: .invalidRequestTarget),
        BadInput(name: "too many empty lines first", raw: "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\(host)\r\n", error: .invalidRequestLine),
    ]

    @Test(arguments: cases)
    func rejected(_ input: BadInput) {
        let out = parseAllSplits(input.raw)
        #expect(out.error == input.error)
        #expect(out.requests.isEmpty)
    }

    @Test func statusesMapAsSpecified() {
        #expect(HTTPParseError.contentLengthWithTransferEncoding.status.code == 400)
        #expect(HTTPParseError.requestTargetTooLong.status.code == 414)
        #expect(HTTPParseError.headerSectionTooLarge.status.code == 431)
        #expect(HTTPParseError.tooManyHeaders.status.code == 431)
        #expect(HTTPParseError.bodyTooLarge.status.code == 413)
        #expect(HTTPParseError.unsupportedTransferCoding.status.code == 501)
        #expect(HTTPParseError.unsupportedVersion.status.code == 505)
    }

    @Test func errorAfterAValidPipelinedRequestKeepsTheFirst() {
        let out = parseAllSplits("GET /a HTTP/1.1\r\n\(host)\r\nGET /b HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 2\r\n\r\n")
        #expect(out.requests.map(\.head.path) == ["/a"])
        #expect(out.error == .multipleContentLength)
    }

    @Test func parserStaysFailed() {
        var parser = RequestParser()
        parser.append(Array("GET / HTTP/1.1\r\nHost : a\r\n\r\n".utf8))
        #expect(throws: HTTPParseError.whitespaceBeforeColon) { try parser.next() }
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(throws: HTTPParseError.whitespaceBeforeColon) { try parser.next() }
    }
}

@Suite("RequestParser: limits")
struct RequestParserLimitTests {
    @Test func targetOverEightKiBIs414() async throws {
        let target = "/" + String(repeating: "a", count: 8 * 1024)
        #expect(try await parseAllSplitsOffPool("GET \(target) HTTP/1.1\r\n\(host)\r\n").error == .requestTargetTooLong)
    }

    @Test func targetAtEightKiBIsAccepted() async throws {
        let target = "/" + String(repeating: "a", count: 8 * 1024 - 1)
        #expect(try await parseAllSplitsOffPool("GET \(target) HTTP/1.1\r\n\(host)\r\n").error == nil)
    }

    @Test func endlessRequestLineIs414BeforeItEnds() async throws {
        // No CRLF ever arrives: the parser must give up once past the limit, not buffer forever.
        let out = try await parseAllSplitsOffPool("GET /" + String(repeating: "a", count: 9000))
        #expect(out.error == .requestTargetTooLong)
    }

    @Test func headerSectionOverSixteenKiBIs431() async throws {
        let big = "X-Big: " + String(repeating: "b", count: 16 * 1024) + "\r\n"
        #expect(try await parseAllSplitsOffPool("GET / HTTP/1.1\r\n\(host)\(big)\r\n").error == .headerSectionTooLarge)
    }

    @Test func endlessHeaderLineIs431() async throws {
        #expect(try await parseAllSplitsOffPool("GET / HTTP/1.1\r\nX: " + String(repeating: "b", count: 17 * 1024)).error == .headerSectionTooLarge)
    }

    @Test func manySmallHeadersOverSixteenKiBIs431() async throws {
        let fields = (0..<90).map { "X-\($0): " + String(repeating: "v", count: 200) + "\r\n" }.joined()
        #expect(try await parseAllSplitsOffPool("GET / HTTP/1.1\r\n\(host)\(fields)\r\n").error == .headerSectionTooLarge)
    }

    @Test func hundredFieldsAccepted101Refused() async throws {
        let ok = (0..<99).map { "X-\($0): v\r\n" }.joined()
        #expect(try await parseAllSplitsOffPool("GET / HTTP/1.1\r\n\(host)\(ok)\r\n").error == nil)
        let tooMany = (0..<100).map { "X-\($0): v\r\n" }.joined()
        #expect(try await parseAllSplitsOffPool("GET / HTTP/1.1\r\n\(host)\(tooMany)\r\n").error == .tooManyHeaders)
    }

    @Test func contentLengthOverLimitIs413BeforeTheBody() {
        let out = parseAllSplits("POST / HTTP/1.1\r\n\(host)Content-Length: \(25 * 1024 * 1024 + 1)\r\n\r\n")
        #expect(out.error == .bodyTooLarge)
    }

    @Test func chunkedTotalOverLimitIs413() {
        let limits = ParserLimits(maxBodyBytes: 10)
        let raw = "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
        #expect(parseAllSplits(raw, limits: limits).error == .bodyTooLarge)
    }
}

@Suite("ResponseEncoder and HTTPDate")
struct ResponseEncoderTests {
    @Test func encodesFramingItself() {
        var out: [UInt8] = []
        var response = HTTPResponse.text(.ok, "hi")
        response.headers.add(name: "Content-Length", value: "999")
        response.headers.add(name: "X-Evil", value: "a\r\nSet-Cookie: x")
        ResponseEncoder.encodeHead(response, contentLength: 2, keepAlive: false, date: "D", into: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.contains("Content-Length: 2\r\n"))
        #expect(!text.contains("999"))
        #expect(text.contains("X-Evil: aSet-Cookie: x\r\n"))
        #expect(text.hasSuffix("Date: D\r\nConnection: close\r\n\r\n"))
    }

    @Test(arguments: [Int64(0), 7, 9, 10, 99, 100, 4096, 1_000_000_007, Int64.max])
    func writesEveryLengthInDecimal(_ length: Int64) {
        var out: [UInt8] = []
        ResponseEncoder.encodeHead(HTTPResponse(status: .notFound), contentLength: length, keepAlive: true, date: "D", into: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(text.contains("\r\nContent-Length: \(length)\r\nDate: D\r\n"))
    }

    @Test func noContentLengthOn204() {
        var out: [UInt8] = []
        ResponseEncoder.encodeHead(HTTPResponse(status: .noContent), contentLength: 0, keepAlive: true, date: "D", into: &out)
        #expect(!String(decoding: out, as: UTF8.self).contains("Content-Length"))
    }

    @Test(arguments: [
        (Int64(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"),
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (Int64(1_795_219_200), "Sat, 21 Nov 2026 00:00:00 GMT"),
        (Int64(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT"),
    ])
    func imfFixdate(seconds: Int64, expected: String) {
        #expect(HTTPDate.format(epochSeconds: seconds) == expected)
    }
}

/// Inputs the fuzzer (`make fuzz`) found, kept so they stay fixed.
@Suite("RequestParser: fuzz regressions")
struct FuzzRegressionTests {
    /// An over-long request line with a bare LF far past the limit: whole it said bareLF (400),
    /// split before the LF it said 414. The limit now fires at the first byte past it.
    @Test func overLongLineThenBareLFGivesOneAnswerHoweverSplit() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzRegressions/long-line-then-bare-lf.bin")
        let bytes = [UInt8](try Data(contentsOf: path))
        let limits = ParserLimits(maxRequestTargetBytes: 512, maxHeaderBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 4096)
        #expect(parseAllSplits(bytes, limits: limits).error == .requestTargetTooLong)
    }

    @Test func headerLineOverTheLimitThenBareLF() {
        let limits = ParserLimits(maxHeaderBytes: 64)
        let raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 100) + "\nmore"
        #expect(parseAllSplits(raw, limits: limits).error == .headerSectionTooLarge)
    }
}
