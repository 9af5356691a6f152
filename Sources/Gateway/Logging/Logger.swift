import Domain
import Store
import Foundation
import Glibc

/// Structured logs: one JSON object per line on stderr.
///
/// Every line has `ts`, `level` and `msg`, plus the fields the caller gives (`task`, `result`,
/// `provider`, …). Known secrets are replaced with `[redacted]` before a line is written, as a
/// second line of defence behind never passing them in the first place.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    private let sink: LogSink
    private let minimum: Level
    private let context: [String: String]

    /// - Parameter closesDescriptor: whether `fd` belongs to the logger, closed once the logger
    ///   and every logger derived from it are gone. Never sooner: a task still running after its
    ///   owner stopped may log, and a descriptor closed under it could by then be another file's.
    public init(minimum: Level = .info, secrets: [String] = [], fd: Int32 = 2, closesDescriptor: Bool = false) {
        sink = LogSink(fd: fd, secrets: secrets, closesDescriptor: closesDescriptor)
        self.minimum = minimum
        context = [:]
    }

    private init(sink: LogSink, minimum: Level, context: [String: String]) {
        self.sink = sink
        self.minimum = minimum
        self.context = context
    }

    /// A logger that adds `fields` to every line (e.g. the task id).
    public func with(_ fields: [String: String]) -> Logger {
        Logger(sink: sink, minimum: minimum, context: context.merging(fields) { $1 })
    }

    public func debug(_ message: String, _ fields: [String: String] = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: [String: String] = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: [String: String] = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: [String: String] = [:]) { log(.error, message, fields) }

    public func log(_ level: Level, _ message: String, _ fields: [String: String]) {
        guard level >= minimum else { return }
        var line = "{\"ts\":\"\(Logger.timestamp())\",\"level\":\"\(level.name)\",\"msg\":\(JSONText.quote(message))"
        for (key, value) in context.merging(fields, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            line += ",\(JSONText.quote(key)):\(JSONText.quote(value))"
        }
        line += "}\n"
        sink.write(line)
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(seconds: now.tv_sec, milliseconds: Int(now.tv_nsec / 1_000_000))
    }

    /// `2026-12-05T01:02:03.456Z`, written digit by digit: `String(format:)` cost more than the
    /// rest of a log line.
    static func timestamp(seconds: time_t, milliseconds: Int) -> String {
        var seconds = seconds
        var tm = tm()
        gmtime_r(&seconds, &tm)
        let fields: [(value: Int, digits: Int, separator: UInt8)] = [
            (Int(tm.tm_year) + 1900, 4, UInt8(ascii: "-")), (Int(tm.tm_mon) + 1, 2, UInt8(ascii: "-")), (Int(tm.tm_mday), 2, UInt8(ascii: "T")),
            (Int(tm.tm_hour), 2, UInt8(ascii: ":")), (Int(tm.tm_min), 2, UInt8(ascii: ":")), (Int(tm.tm_sec), 2, UInt8(ascii: ".")),
            (milliseconds, 3, UInt8(ascii: "Z")),
        ]
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var end = 0
            for field in fields {
                var value = field.value
                for k in stride(from: field.digits - 1, through: 0, by: -1) {
                    buffer[end + k] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                buffer[end + field.digits] = field.separator
                end += field.digits + 1
            }
            return end
        }
    }
}

/// Where lines go: one `write(2)` per line, so concurrent lines never interleave.
final class LogSink: Sendable {
    let fd: Int32
    let secrets: [String]
    let closesDescriptor: Bool

    init(fd: Int32, secrets: [String], closesDescriptor: Bool) {
        self.fd = fd
        self.closesDescriptor = closesDescriptor
        // Longest first, so a secret containing another is redacted whole.
        self.secrets = secrets.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    deinit {
        if closesDescriptor { Glibc.close(fd) }
    }

    func write(_ line: String) {
        var text = line
        for secret in secrets where ByteSearch.contains(text, secret) {
            text = text.replacingOccurrences(of: secret, with: "[redacted]")
        }
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}
