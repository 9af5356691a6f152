/// `multipart/form-data` (RFC 7578 over RFC 2046) pushed in pieces of any size: bytes in, part
/// events out. No IO, no allocation beyond the piece being looked at, so a file part streams to
/// wherever its consumer puts it.
///
/// Concurrency model: a value type used by one owner at a time; it holds no references.
///
/// The parser is strict where a lenient one could be steered: a boundary is 1–70 of RFC 2046's
/// characters; every part needs `Content-Disposition: form-data` with a `name`; header lines end
/// in CRLF and cannot be folded; the body must end with the closing delimiter. It enforces the
/// limits it can know: parts, header bytes, field and file sizes.
public struct MultipartParser: Sendable {
    public let limits: MultipartLimits
    private let delimiter: [UInt8]  // CRLF "--" boundary
    /// Bytes fed and not yet consumed start at `start`: consuming moves an index, and the array
    /// is compacted only now and then, so a body fed in small pieces costs linear time.
    private var buffer: [UInt8]
    private var start = 0
    /// How far past `start` the current state's search already looked without a match: a search
    /// resumes there (less a needle's length) instead of from the start.
    private var scanned = 0
    private var state = State.preamble
    private var parts = 0
    private var partBytes = 0
    private var partIsFile = false

    enum State: Sendable, Equatable {
        /// Before the first delimiter: what is there is ignored.
        case preamble
        /// Right after a delimiter: `--` ends the body; padding and CRLF start a part.
        case afterDelimiter
        case headers
        case body
        /// After the closing delimiter: ignored.
        case epilogue
    }

    public init(boundary: String, limits: MultipartLimits = MultipartLimits()) throws(MultipartError) {
        guard Self.isValidBoundary(boundary) else { throw MultipartError(.invalidBoundary, "the boundary is not 1–70 RFC 2046 characters") }
        self.limits = limits
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The first delimiter may start the body: reading it as if a line ended before it makes
        // every delimiter look the same.
        buffer = [13, 10]
    }

    /// Whether the closing delimiter has been read.
    public var isComplete: Bool { state == .epilogue }

    /// Parses what `bytes` adds; returns the events it completes, in order.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(MultipartError) -> [MultipartEvent] {
        var events: [MultipartEvent] = []
        if state == .epilogue { return events }
        buffer.append(contentsOf: bytes)
        var progressed = true
        while progressed {
            progressed = try step(&events)
        }
        return events
    }

    /// Ends the body: throws unless the closing delimiter was read.
    public func finish() throws(MultipartError) {
        guard state == .epilogue else {
            throw MultipartError(.truncated, state == .preamble ? "the body holds no multipart delimiter" : "the body ends before its closing delimiter")
        }
    }

    private var available: Int { buffer.count - start }

    private mutating func consume(_ count: Int) {
        start += count
        scanned = 0
        if start > 64 * 1024, start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Where `needle` next starts, relative to `start`; remembers how far it looked when absent.
    private mutating func search(_ needle: [UInt8]) -> Int? {
        let from = start + max(scanned - (needle.count - 1), 0)
        if let at = Self.find(needle, in: buffer, from: from) { return at - start }
        scanned = available
        return nil
    }

    /// One step of the state machine; false when it needs more bytes.
    private mutating func step(_ events: inout [MultipartEvent]) throws(MultipartError) -> Bool {
        switch state {
        case .preamble:
            // The same verdict however the body is split: a delimiter must start within the
            // first maxPreambleBytes (plus the CRLF the parser puts before the body).
            let latest = limits.maxPreambleBytes + 2
            if let at = search(delimiter) {
                guard at <= latest else { throw MultipartError(.malformed, "no multipart delimiter in the first \(limits.maxPreambleBytes) bytes") }
                consume(at + delimiter.count)
                state = .afterDelimiter
                return true
            }
            guard available >= latest + delimiter.count else { return false }
            throw MultipartError(.malformed, "no multipart delimiter in the first \(limits.maxPreambleBytes) bytes")
        case .afterDelimiter:
            guard available >= 2 else { return false }
            if buffer[start] == 45, buffer[start + 1] == 45 {  // "--": the closing delimiter
                state = .epilogue
                buffer = []
                start = 0
                return false
            }
            // Transport padding (spaces and tabs), then CRLF.
            var i = 0
            while i < available, buffer[start + i] == 32 || buffer[start + i] == 9 {
                i += 1
                guard i <= 64 else { throw MultipartError(.malformed, "a delimiter line is followed by too much padding") }
            }
            guard available >= i + 2 else { return false }
            guard buffer[start + i] == 13, buffer[start + i + 1] == 10 else { throw MultipartError(.malformed, "a delimiter is not followed by CRLF or --") }
            consume(i + 2)
            parts += 1
            guard parts <= limits.maxParts else { throw MultipartError(.tooManyParts, "a body may hold at most \(limits.maxParts) parts") }
            state = .headers
            return true
        case .headers:
            let end: Int
            let headerBytes: ArraySlice<UInt8>
            if available >= 2, buffer[start] == 13, buffer[start + 1] == 10 {
                end = 2
                headerBytes = []
            } else if let at = search([13, 10, 13, 10]) {
                end = at + 4
                headerBytes = buffer[start..<start + at]
            } else {
                // Over the limit only once a blank line within it could no longer be on its way.
                guard available >= limits.maxHeaderBytes + 4 else { return false }
                throw MultipartError(.headersTooLarge, "a part's headers exceed \(limits.maxHeaderBytes) bytes")
            }
            guard end - 4 <= limits.maxHeaderBytes else { throw MultipartError(.headersTooLarge, "a part's headers exceed \(limits.maxHeaderBytes) bytes") }
            let head = try MultipartPartHead(parsing: headerBytes, maxHeaders: limits.maxHeadersPerPart)
            consume(end)
            partBytes = 0
            partIsFile = head.filename != nil
            events.append(.begin(head))
            state = .body
            return true
        case .body:
            if let at = search(delimiter) {
                try emit(at, &events)
                consume(delimiter.count)
                events.append(.end)
                state = .afterDelimiter
                return true
            }
            // Everything but a tail that could be the start of a delimiter is the part's.
            let safe = available - (delimiter.count - 1)
            if safe > 0 { try emit(safe, &events) }
            return false
        case .epilogue:
            buffer = []
            start = 0
            return false
        }
    }

    private mutating func emit(_ count: Int, _ events: inout [MultipartEvent]) throws(MultipartError) {
        guard count > 0 else { return }
        partBytes += count
        if !partIsFile, partBytes > limits.maxFieldBytes {
            throw MultipartError(.fieldTooLarge, "a form field exceeds \(limits.maxFieldBytes) bytes")
        }
        if partIsFile, partBytes > limits.maxFileBytes {
            throw MultipartError(.fileTooLarge, "a file part exceeds \(limits.maxFileBytes) bytes")
        }
        events.append(.data(Array(buffer[start..<start + count])))
        consume(count)
    }

    /// The first index at or after `from` where `needle` starts in `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int = 0) -> Int? {
        guard let first = needle.first, haystack.count - from >= needle.count else { return nil }
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                var i = from
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count, h[i + j] == n[j] { j += 1 }
                        if j == n.count { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }

    /// RFC 2046 §5.1.1: 1–70 characters of `bchars`, not ending in a space.
    public static func isValidBoundary(_ boundary: String) -> Bool {
        let bytes = Array(boundary.utf8)
        guard (1...70).contains(bytes.count), bytes.last != 32 else { return false }
        return bytes.allSatisfy { b in
            (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || Array("'()+_,-./:=? ".utf8).contains(b)
        }
    }

    /// The boundary of a `multipart/form-data` Content-Type, if that is what it is.
    public static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
        guard let type = parts.first, type.trimmingSpaces().lowercased() == "multipart/form-data" else { return nil }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingSpaces().lowercased() == "boundary" else { continue }
            var value = Substring(pair[1].trimmingSpaces())
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            let boundary = String(value)
            return isValidBoundary(boundary) ? boundary : nil
        }
        return nil
    }
}

/// What a multipart body may hold.
public struct MultipartLimits: Sendable, Equatable {
    public var maxParts = 16
    public var maxHeaderBytes = 8 * 1024
    public var maxHeadersPerPart = 16
    /// A part without a filename (a form field), in bytes.
    public var maxFieldBytes = 64 * 1024
    /// A part with a filename (a file), in bytes: refused while it arrives, not once it is whole.
    public var maxFileBytes = Int.max
    /// Bytes before the first delimiter.
    public var maxPreambleBytes = 1024
    public init() {}
}

/// What the parser reports, in the order of the body.
public enum MultipartEvent: Sendable, Equatable {
    /// A part starts: its name and headers.
    case begin(MultipartPartHead)
    /// Some of the current part's bytes (a part's data may come in many pieces).
    case data([UInt8])
    /// The current part is complete.
    case end
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
