import Domain
import Store
import Glibc
import HTTP1

/// A Runware reply, `{"data":[…],"errors":[…]}`, whose items may carry videos as base64.
///
/// Without inline videos it is bytes in memory. With them, it is a list of segments, JSON text
/// and files, streamed as the socket drains: the base64 of a video is read and encoded a piece
/// at a time (as much as the connection asks for, 64 KiB of output), so a reply with many videos
/// never holds more than one piece of one of them.
struct ReplyBody: Sendable {
    enum Segment: Sendable {
        case text([UInt8])
        /// A video's base64; `staged` keeps a copy staged from the media store alive while any
        /// body or source still holds this segment.
        case base64(path: String, bytes: Int64, staged: TemporaryFile?)

        var length: Int64 {
            switch self {
            case .text(let bytes): Int64(bytes.count)
            case .base64(_, let bytes, _): (bytes + 2) / 3 * 4
            }
        }
    }

    let segments: [Segment]

    init(data: [ResultItem], errors: [JSONValue]) {
        var segments: [Segment] = []
        var text: [UInt8] = [UInt8(ascii: "{")]
        text.reserveCapacity(512)
        func append(_ literal: String) { text.append(contentsOf: Array(literal.utf8)) }
        func flush() {
            if !text.isEmpty { segments.append(.text(text)) }
            text = []
        }
        let hasData = !data.isEmpty || errors.isEmpty
        if hasData {
            append("\"data\":[")
            for (index, item) in data.enumerated() {
                if index > 0 { append(",") }
                guard let inline = item.inline else {
                    item.fields.write(to: &text)
                    continue
                }
                // The fields, then the video as the last member: `{…,"videoBase64Data":"<base64>"}`.
                item.fields.write(to: &text)
                text.removeLast()
                if !item.fields.isEmpty { append(",") }
                JSONText.quote(inline.field, into: &text)
                append(":\"")
                append(inline.prefix)
                flush()
                segments.append(.base64(path: inline.path, bytes: inline.bytes, staged: inline.staged))
                append("\"}")
            }
            append("]")
        }
        if !errors.isEmpty {
            append(hasData ? ",\"errors\":" : "\"errors\":")
            JSONValue.array(errors).write(to: &text)
        }
        append("}")
        flush()
        self.segments = segments
    }

    var length: Int64 { segments.reduce(0) { $0 + $1.length } }

    /// The body for an HTTP response: bytes when nothing is inline, else a stream.
    var httpBody: HTTPResponse.Body {
        if segments.count == 1, case .text(let bytes) = segments[0] { return .bytes(bytes) }
        return .stream(length: length, source: ReplyBodySource(segments: segments))
    }
}

/// Produces a ``ReplyBody`` piece by piece. A connection calls it from its own queue, one call at
/// a time (``ResponseBodySource``), which is what makes the mutable state safe.
final class ReplyBodySource: ResponseBodySource, @unchecked Sendable {
    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    private let segments: [ReplyBody.Segment]
    private var index = 0
    /// Progress inside the current segment: bytes of text sent, or bytes of the file encoded.
    private var offset: Int64 = 0
    private var fd: Int32 = -1
    private var chunk: [UInt8] = []

    init(segments: [ReplyBody.Segment]) { self.segments = segments }

    deinit { close() }

    func next(into buffer: inout [UInt8], maxBytes: Int) throws {
        var room = maxBytes
        while room > 0, index < segments.count {
            switch segments[index] {
            case .text(let bytes):
                let n = min(room, bytes.count - Int(offset))
                buffer.append(contentsOf: bytes[Int(offset)..<Int(offset) + n])
                offset += Int64(n)
                room -= n
                if offset == Int64(bytes.count) { advance() }
            case .base64(let path, let size, _):
                // Whole 3-byte groups only, except for the file's last piece.
                let left = size - offset
                let take = Int(min(left, Int64(room / 4 * 3)))
                guard take > 0 else { return }  // less room than one group: the next call continues
                if fd < 0 {
                    fd = open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw Failed(description: "cannot open \(path): errno \(errno)") }
                }
                try read(take)
                Base64.append(chunk[0..<take], to: &buffer)
                offset += Int64(take)
                room -= (take + 2) / 3 * 4
                if offset == size { advance() }
            }
        }
    }

    private func read(_ count: Int) throws {
        if chunk.count < count { chunk = [UInt8](repeating: 0, count: count) }
        var done = 0
        while done < count {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, count - done) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw Failed(description: "the video ended early (it was removed or truncated)") }
            done += n
        }
    }

    private func advance() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        index += 1
        offset = 0
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        index = segments.count
    }
}

/// Standard base64 with padding (RFC 4648 §4), appended in place.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes through raw buffers into fresh storage, appended to `out` in one copy: this runs on
    /// an event loop for every piece of an inline video, so per-byte appends (and, unoptimised, a
    /// checked look-up of the alphabet per byte) would hold the loop far longer than the encoding
    /// needs.
    static func append(_ input: ArraySlice<UInt8>, to out: inout [UInt8]) {
        let encodedCount = (input.count + 2) / 3 * 4
        let encoded = [UInt8](unsafeUninitializedCapacity: encodedCount) { target, initialized in
            target.initialize(repeating: UInt8(ascii: "="))  // the padding, where it is needed
            initialized = encodedCount
            alphabet.withUnsafeBufferPointer { table in
                input.withUnsafeBufferPointer { source in
                    var i = 0, o = 0
                    while i + 2 < source.count {
                        let n = UInt32(source[i]) << 16 | UInt32(source[i + 1]) << 8 | UInt32(source[i + 2])
                        target[o] = table[Int(n >> 18 & 63)]
                        target[o + 1] = table[Int(n >> 12 & 63)]
                        target[o + 2] = table[Int(n >> 6 & 63)]
                        target[o + 3] = table[Int(n & 63)]
                        i += 3
                        o += 4
                    }
                    let rest = source.count - i
                    if rest > 0 {  // the padding is already in place
                        let n = UInt32(source[i]) << 16 | (rest > 1 ? UInt32(source[i + 1]) << 8 : 0)
                        target[o] = table[Int(n >> 18 & 63)]
                        target[o + 1] = table[Int(n >> 12 & 63)]
                        if rest > 1 { target[o + 2] = table[Int(n >> 6 & 63)] }
                    }
                }
            }
        }
        out.append(contentsOf: encoded)
    }
}
