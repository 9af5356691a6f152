import Domain
import Foundation
import Gateway
import TestSupport
import Testing

@Suite("LargeJSONReader")
struct LargeJSONReaderTests {
    @Test func longStringsBecomeSpansDecodedFromTheFile() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let video = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let json = #"{"status":"completed","steps":[{"type":"model_output","content":[{"type":"video","data":"\#(Data(video).base64EncodedString())"}]}],"small":"x\"y"}"#
        let path = dir.file("poll.json")
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let parsed = try LargeJSONReader.parse(path: path)
        #expect(parsed["status"] == "completed")
        #expect(parsed["small"] == "x\"y")
        let data = try #require(parsed["steps"]?.array?.first?["content"]?.array?.first?["data"]?.string)
        let span = try #require(LargeJSONReader.span(of: data))
        try LargeJSONReader.decodeBase64(span, from: path, to: dir.file("out.bin"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("out.bin"))) == Data(video))
    }
}
