import Foundation
@testable import Gateway
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

    /// The hand-written timestamp says what ISO 8601 with milliseconds says, at the edges of
    /// days, months, years and leap days.
    @Test func timestampsAreISO8601InUTCWithMilliseconds() {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for (seconds, milliseconds) in [(0, 0), (951_782_399, 999), (951_782_400, 1), (1_798_761_599, 500), (1_796_432_523, 456), (4_102_444_800, 7)] {
            let expected = iso.string(from: Date(timeIntervalSince1970: Double(seconds) + Double(milliseconds) / 1000 + 0.0001))
            #expect(Logger.timestamp(seconds: time_t(seconds), milliseconds: milliseconds) == expected)
        }
        #expect(Logger.timestamp().count == 24)
    }
}
