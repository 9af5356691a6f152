import Domain
import Store
import Foundation

/// Reads a JSON document from a file without holding its long strings in memory.
///
/// Upstreams return videos as base64 inside JSON (Gemini's interaction GET answers with the
/// video inline). One streaming pass copies the document into memory, but replaces the content
/// of every string longer than `threshold` with a placeholder naming its byte range in the file;
/// the strict parser then reads the small skeleton, and the caller decodes the long value
/// straight from the file (``decodeBase64(_:from:to:)``). Memory does not grow with the video.
public enum LargeJSONReader {
    /// Where a long string's raw content lies in the file (between its quotes, escapes included).
    public struct Span: Sendable, Equatable {
        public let offset: Int64
        public let length: Int64
    }

    /// A private-use code point: valid in JSON strings, never in real upstream text.
    static let marker = "\u{E000}span:"

    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses the file; long strings come back as placeholder strings (see ``span(of:)``).
    public static func parse(path: String, threshold: Int = 64 * 1024) throws -> JSONValue {
        guard let input = FileHandle(forReadingAtPath: path) else { throw Failed(description: "cannot open \(path)") }
        defer { try? input.close() }
        var skeleton: [UInt8] = []
        var inString = false, escaped = false
        var stringStart: Int64 = 0  // file offset of the first byte after the opening quote
        var pending: [UInt8] = []  // current string content while it is still short
        var spilled = false
        var offset: Int64 = 0
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            for byte in chunk {
                defer { offset += 1 }
                if !inString {
                    skeleton.append(byte)
                    if byte == UInt8(ascii: "\"") {
                        inString = true
                        escaped = false
                        stringStart = offset + 1
                        pending.removeAll(keepingCapacity: true)
                        spilled = false
                    }
                    continue
                }
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if spilled {
                        skeleton += Array("\(marker)\(stringStart):\(offset - stringStart)".utf8)
                    } else {
                        skeleton += pending
                    }
                    skeleton.append(byte)
                    continue
                }
                if !spilled {
                    pending.append(byte)
                    if pending.count > threshold {
                        spilled = true
                        pending.removeAll()
                    }
                }
            }
            if skeleton.count > 32 << 20 { throw Failed(description: "JSON structure larger than 32 MiB") }
        }
        do {
            return try JSONParser.parse(skeleton)
        } catch {
            throw Failed(description: "invalid JSON: \(error)")
        }
    }

    /// The file range a placeholder string stands for, or nil for an ordinary string.
    public static func span(of value: String) -> Span? {
        guard value.hasPrefix(marker) else { return nil }
        let parts = value.dropFirst(marker.count).split(separator: ":")
        guard parts.count == 2, let offset = Int64(parts[0]), let length = Int64(parts[1]) else { return nil }
        return Span(offset: offset, length: length)
    }

    /// Decodes standard base64 (as JSON carries it; `\/` escapes are tolerated) from a file range
    /// into `destination`, in chunks.
    public static func decodeBase64(_ span: Span, from path: String, to destination: String) throws {
        guard let input = FileHandle(forReadingAtPath: path) else { throw Failed(description: "cannot open \(path)") }
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: destination, contents: nil), let output = FileHandle(forWritingAtPath: destination) else { throw Failed(description: "cannot create \(destination)") }
        defer { try? output.close() }
        try input.seek(toOffset: UInt64(span.offset))
        var remaining = span.length
        var carry: [UInt8] = []
        while remaining > 0 {
            guard let chunk = try input.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty else {
                throw Failed(description: "file ended inside the base64 value")
            }
            remaining -= Int64(chunk.count)
            carry += chunk.filter { $0 != UInt8(ascii: "\\") && $0 != 0x0A && $0 != 0x0D }
            let usable = remaining == 0 ? carry.count : carry.count - carry.count % 4
            guard let decoded = Data(base64Encoded: Data(carry[0..<usable])) else {
                throw Failed(description: "the video is not valid base64")
            }
            try output.write(contentsOf: decoded)
            carry.removeFirst(usable)
        }
        try output.synchronize()
    }
}
