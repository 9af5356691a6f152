import Foundation
import Gateway
import TestSupport
import Testing

@Suite("Logger")
struct LoggerTests {
    @Test func writesOneJSONObjectPerLineAndRedactsSecrets() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("log")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let logger = Logger(secrets: ["sk-live-123456"], fd: fd).with(["task": "t-1"])
        logger.info("submitted with key sk-live-123456", ["quote": "a\"b\nc"])
        logger.debug("hidden below info")
        logger.error("failed")
        close(fd)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(!text.contains("sk-live-123456"))
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            #expect(object["task"] == "t-1")
            #expect(object["ts"] != nil && object["level"] != nil && object["msg"] != nil)
        }
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String]
        #expect(first?["msg"] == "submitted with key [redacted]")
        #expect(first?["quote"] == "a\"b\nc")
    }
}
