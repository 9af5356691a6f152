/// What the parser produced from the bytes seen so far.
public enum HTTPParserEvent: Sendable, Equatable {
    case head(HTTPRequestHead)
    /// A piece of the body, in order; pieces may be any size.
    case body([UInt8])
    /// The request is complete; the parser is ready for the next one on the same connection.
    case end
}

/// An incremental HTTP/1.1 request parser: bytes in, events out, no IO.
///
/// Feed bytes with ``append(_:)`` in whatever pieces they arrive and call ``next()`` until it
/// returns `nil` (more bytes needed). The result is the same however the input is split, which the
/// tests check by feeding every input split at every byte.
///
/// It is strict on purpose. A gateway behind a proxy must never frame a request differently from
/// the proxy, so every ambiguity RFC 9112 lets a server reject is rejected: bare CR or LF,
/// obs-fold, whitespace before the colon, Content-Length with Transfer-Encoding, duplicate or
/// malformed Content-Length, a final coding other than chunked, malformed chunk sizes and
/// extensions. Limits are enforced while bytes arrive, so an oversized head or body is refused
/// before it is buffered.
public struct RequestParser: Sendable {
    private enum State: Sendable {
        case requestLine
        case headers
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    public let limits: ParserLimits
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var state: State = .requestLine
    /// Where the search for the next LF resumes, so a head fed byte by byte is scanned once.
    private var scanIndex = 0

    // Request being assembled.
    private var method = ""
    private var target = ""
    private var version = HTTPVersion.http11
    private var headers = HTTPHeaders()
    private var headerBytes = 0
    private var bodyBytes = 0
    /// The current request's body limit, when the server narrowed it after seeing the head.
    private var requestBodyLimit: Int?
    private var trailerBytes = 0
    private var emptyLinesSkipped = 0

    /// - Parameter reserving: buffer bytes to allocate up front (a connection that is handed to
    ///   another protocol keeps a parser that will never read, and reserves nothing).
    public init(limits: ParserLimits = ParserLimits(), reserving: Int = 1024) {
        self.limits = limits
        if reserving > 0 { buffer.reserveCapacity(reserving) }
    }

    /// Bytes received but not yet consumed by an event.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Whether the parser sits between requests with nothing buffered.
    public var isIdle: Bool {
        if case .requestLine = state { return bufferedByteCount == 0 }
        return false
    }

    /// Whether a request has started arriving (some byte of it was seen) but is not yet complete.
    public var isMidRequest: Bool {
        switch state {
        case .requestLine: bufferedByteCount > 0
        case .failed: false
        default: true
        }
    }

    /// Every byte buffered and not yet consumed, handed over when the connection switches
    /// protocols (they belong to the new protocol); the parser is then done.
    public mutating func takeBufferedBytes() -> [UInt8] {
        let bytes = Array(buffer[readIndex...])
        buffer.removeAll()
        readIndex = 0
        scanIndex = 0
        return bytes
    }

    /// Narrows the body limit of the request whose head was just returned (a caller without a
    /// key may send only a little): a chunked body past it fails with `bodyTooLarge`. A
    /// Content-Length body is the caller's to check against the head.
    public mutating func limitBody(to maxBytes: Int) {
        requestBodyLimit = min(maxBytes, limits.maxBodyBytes)
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
    }

    /// The next event, or `nil` when more bytes are needed.
    ///
    /// - Throws: ``HTTPParseError``; the parser then stays failed and the connection must close.
    public mutating func next() throws(HTTPParseError) -> HTTPParserEvent? {
        do {
            let event = try step()
            compactIfWorthIt()
            return event
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            switch state {
            case .failed(let error):
                throw error

            case .requestLine:
                guard let line = try nextLine(limit: limits.maxRequestTargetBytes + 64, overflow: .requestTargetTooLong)
                else { return nil }
                if line.isEmpty {
                    // RFC 9112 §2.2: SHOULD ignore at least one empty line before the request line.
                    emptyLinesSkipped += 1
                    if emptyLinesSkipped > 4 { throw .invalidRequestLine }
                    continue
                }
                try parseRequestLine(line)
                state = .headers

            case .headers:
                let remaining = limits.maxHeaderBytes - headerBytes
                guard let line = try nextLine(limit: max(remaining, 0), overflow: .headerSectionTooLarge)
                else { return nil }
                headerBytes += line.count + 2
                if headerBytes > limits.maxHeaderBytes { throw .headerSectionTooLarge }
                if line.isEmpty {
                    let head = try finishHead()
                    return .head(head)
                }
                let field = try parseField(line, invalid: .invalidHeaderName)
                if headers.count >= limits.maxHeaderCount { throw .tooManyHeaders }
                headers.add(name: field.name, value: field.value)

            case .fixedBody(let remaining):
                if remaining == 0 {
                    finishRequest()
                    return .end
                }
                guard let piece = takeBody(upTo: remaining) else { return nil }
                state = .fixedBody(remaining: remaining - piece.count)
                return .body(piece)

            case .chunkSize:
                guard let line = try nextLine(limit: limits.maxChunkLineBytes, overflow: .chunkExtensionTooLong)
                else { return nil }
                let size = try parseChunkSizeLine(line)
                if size == 0 {
                    state = .trailers
                    continue
                }
                if size > (requestBodyLimit ?? limits.maxBodyBytes) - bodyBytes { throw .bodyTooLarge }
                bodyBytes += size
                state = .chunkData(remaining: size)

            case .chunkData(let remaining):
                guard let piece = takeBody(upTo: remaining) else { return nil }
                state = piece.count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - piece.count)
                return .body(piece)

            case .chunkDataEnd:
                // RFC 9112 §7.1: chunk-data is followed by exactly CRLF.
                guard buffer.count - readIndex >= 2 else {
                    if buffer.count - readIndex == 1, buffer[readIndex] != 0x0D { throw .missingChunkTerminator }
                    return nil
                }
                guard buffer[readIndex] == 0x0D, buffer[readIndex + 1] == 0x0A else { throw .missingChunkTerminator }
                readIndex += 2
                scanIndex = readIndex
                state = .chunkSize

            case .trailers:
                let remaining = limits.maxTrailerBytes - trailerBytes
                guard let line = try nextLine(limit: max(remaining, 0), overflow: .trailerSectionTooLarge)
                else { return nil }
                trailerBytes += line.count + 2
                if trailerBytes > limits.maxTrailerBytes { throw .trailerSectionTooLarge }
                if line.isEmpty {
                    finishRequest()
                    return .end
                }
                // Trailer fields are validated like header fields, then discarded.
                _ = try parseField(line, invalid: .invalidTrailer)
            }
        }
    }

    /// Up to `limit` buffered body bytes, or `nil` when none are buffered.
    private mutating func takeBody(upTo limit: Int) -> [UInt8]? {
        let n = min(buffer.count - readIndex, limit)
        guard n > 0 else { return nil }
        let piece = Array(buffer[readIndex..<readIndex + n])
        readIndex += n
        scanIndex = readIndex
        return piece
    }

    // MARK: Lines

    /// The next CRLF-terminated line without its CRLF, or `nil` if it has not fully arrived.
    ///
    /// Rejects bare CR and bare LF, and throws `overflow` once the line outgrows `limit`
    /// without a terminator, so a peer cannot make us buffer an endless line.
    private mutating func nextLine(limit: Int, overflow: HTTPParseError) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        var i = max(scanIndex, readIndex)
        let end = buffer.count
        while i < end {
            let byte = buffer[i]
            // The limit is checked at the first byte past it, as the scan goes: which error a
            // stream gets (414 vs a later bare LF's 400) must not depend on where it was split.
            if byte != 0x0A, byte != 0x0D, i - readIndex + 1 > limit { throw overflow }
            if byte == 0x0A {
                guard i > readIndex, buffer[i - 1] == 0x0D else { throw .bareLF }
                if i - 1 - readIndex > limit { throw overflow }
                let line = buffer[readIndex..<(i - 1)]
                readIndex = i + 1
                scanIndex = readIndex
                return line
            }
            if byte == 0x0D, i + 1 < end, buffer[i + 1] != 0x0A { throw .bareCR }
            i += 1
        }
        // A trailing CR is looked at again once the next byte arrives.
        scanIndex = end > readIndex && buffer[end - 1] == 0x0D ? end - 1 : end
        // A trailing CR may still be followed by LF, so it does not count towards the limit yet.
        let pending = end - readIndex - (end > readIndex && buffer[end - 1] == 0x0D ? 1 : 0)
        if pending > limit { throw overflow }
        return nil
    }

    // MARK: Request line

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        // method SP request-target SP HTTP-version, exactly one SP each (RFC 9112 §3).
        guard let firstSpace = line.firstIndex(of: 0x20) else { throw .invalidRequestLine }
        let afterMethod = line.index(after: firstSpace)
        guard let secondSpace = line[afterMethod...].firstIndex(of: 0x20) else { throw .invalidRequestLine }
        let methodBytes = line[line.startIndex..<firstSpace]
        let targetBytes = line[afterMethod..<secondSpace]
        let versionBytes = line[line.index(after: secondSpace)...]
        guard !methodBytes.isEmpty else { throw .invalidRequestLine }
        guard methodBytes.allSatisfy(isTokenByte) else { throw .invalidMethod }
        guard !targetBytes.isEmpty, !versionBytes.contains(0x20) else { throw .invalidRequestLine }
        if targetBytes.count > limits.maxRequestTargetBytes { throw .requestTargetTooLong }
        // Visible ASCII only: no CTLs, no raw non-ASCII (they must be percent-encoded).
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidRequestTarget }

        version = try parseVersion(versionBytes)
        method = String(decoding: methodBytes, as: UTF8.self)
        target = String(decoding: targetBytes, as: UTF8.self)

        let first = targetBytes.first!
        if first == UInt8(ascii: "/") {
            // origin-form
        } else if first == UInt8(ascii: "*"), targetBytes.count == 1 {
            guard method == "OPTIONS" else { throw .invalidRequestTarget }
        } else if target.lowercased().hasPrefix("http://") || target.lowercased().hasPrefix("https://") {
            // absolute-form (RFC 9112 §3.2.2: servers MUST accept it)
        } else {
            throw .invalidRequestTarget
        }
    }

    private func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8) else { throw .invalidVersion }
        let major = bytes[bytes.startIndex + 5], dot = bytes[bytes.startIndex + 6], minor = bytes[bytes.startIndex + 7]
        guard isDigit(major), dot == UInt8(ascii: "."), isDigit(minor) else { throw .invalidVersion }
        switch (major, minor) {
        case (UInt8(ascii: "1"), UInt8(ascii: "1")): return .http11
        case (UInt8(ascii: "1"), UInt8(ascii: "0")): return .http10
        default: throw .unsupportedVersion
        }
    }

    // MARK: Fields

    private func parseField(_ line: ArraySlice<UInt8>, invalid: HTTPParseError) throws(HTTPParseError) -> HTTPHeaders.Field {
        guard let first = line.first else { throw invalid }
        if first == 0x20 || first == 0x09 { throw .obsoleteLineFolding }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw invalid }
        let name = line[line.startIndex..<colon]
        guard let last = name.last else { throw invalid }
        if last == 0x20 || last == 0x09 { throw .whitespaceBeforeColon }
        guard name.allSatisfy(isTokenByte) else { throw invalid }
        var value = line[line.index(after: colon)...]
        while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
        while let l = value.last, l == 0x20 || l == 0x09 { value = value.dropLast() }
        // field-value: VCHAR, obs-text, SP and HTAB; CR, LF, NUL and other CTLs are refused.
        for byte in value where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
            throw invalid == .invalidTrailer ? .invalidTrailer : .invalidHeaderValue
        }
        return HTTPHeaders.Field(
            name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }

    // MARK: Framing

    private mutating func finishHead() throws(HTTPParseError) -> HTTPRequestHead {
        // One pass over the fields for the three that decide framing and routing.
        var host: String?
        var hostCount = 0
        var transferEncodings: [String] = []
        var contentLengths: [String] = []
        for field in headers {
            switch field.name.utf8.count {
            case 4 where field.name.equalsASCIICaseInsensitive("host"):
                host = host ?? field.value
                hostCount += 1
            case 14 where field.name.equalsASCIICaseInsensitive("content-length"): contentLengths.append(field.value)
            case 17 where field.name.equalsASCIICaseInsensitive("transfer-encoding"): transferEncodings.append(field.value)
            default: break
            }
        }
        if hostCount > 1 { throw .multipleHost }
        if version == .http11, hostCount == 0 { throw .missingHost }
        if let host, !host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) {
            throw .invalidHeaderValue
        }

        let framing: BodyFraming
        if !transferEncodings.isEmpty {
            if version == .http10 { throw .transferEncodingInHTTP10 }
            if !contentLengths.isEmpty { throw .contentLengthWithTransferEncoding }
            let codings = transferEncodings.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { $0.trimmingOWS() }
            guard !codings.contains(where: \.isEmpty), let final = codings.last else {
                throw .transferEncodingNotChunked
            }
            guard final.equalsASCIICaseInsensitive("chunked") else { throw .transferEncodingNotChunked }
            guard codings.count == 1 else { throw .unsupportedTransferCoding }
            framing = .chunked
        } else if !contentLengths.isEmpty {
            guard contentLengths.count == 1 else { throw .multipleContentLength }
            let text = contentLengths[0]
            if text.contains(",") { throw .multipleContentLength }
            guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy(isDigit), let length = Int(text) else {
                throw .invalidContentLength
            }
            if length > limits.maxBodyBytes { throw .bodyTooLarge }
            framing = length == 0 ? .none : .contentLength(length)
        } else {
            framing = .none
        }

        let head = HTTPRequestHead(method: method, target: target, version: version, headers: headers, framing: framing)
        switch framing {
        case .none: state = .fixedBody(remaining: 0)
        case .contentLength(let n): state = .fixedBody(remaining: n)
        case .chunked: state = .chunkSize
        }
        return head
    }

    /// chunk-size [ chunk-ext ] (RFC 9112 §7.1, §7.1.1).
    private func parseChunkSizeLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var i = line.startIndex
        var size: UInt64 = 0
        var digits = 0
        while i < line.endIndex, let d = hexValue(line[i]) {
            digits += 1
            if digits > 16 { throw .invalidChunkSize }
            size = size << 4 | UInt64(d)
            i += 1
        }
        guard digits > 0 else { throw .invalidChunkSize }
        guard size <= UInt64(Int.max) else { throw .invalidChunkSize }
        let rest = line[i...]
        if !rest.isEmpty { try validateChunkExtensions(rest) }
        return Int(size)
    }

    /// `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] )`, value a token or quoted-string.
    private func validateChunkExtensions(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        var i = bytes.startIndex
        let end = bytes.endIndex
        func skipWS() { while i < end, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 } }
        var first = true
        while true {
            skipWS()
            if i == end {
                // Whitespace after the size with no extension is not in the grammar.
                if first { throw .invalidChunkSize }
                return
            }
            guard bytes[i] == UInt8(ascii: ";") else { throw first ? .invalidChunkSize : .invalidChunkExtension }
            first = false
            i += 1
            skipWS()
            let nameStart = i
            while i < end, isTokenByte(bytes[i]) { i += 1 }
            guard i > nameStart else { throw .invalidChunkExtension }
            skipWS()
            guard i < end, bytes[i] == UInt8(ascii: "=") else { continue }
            i += 1
            skipWS()
            guard i < end else { throw .invalidChunkExtension }
            if bytes[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < end {
                    let b = bytes[i]
                    if b == UInt8(ascii: "\\") {
                        i += 2
                        continue
                    }
                    if b == UInt8(ascii: "\"") {
                        closed = true
                        i += 1
                        break
                    }
                    guard b == 0x09 || (b >= 0x20 && b != 0x7F) else { throw .invalidChunkExtension }
                    i += 1
                }
                guard closed, i <= end else { throw .invalidChunkExtension }
            } else {
                let valueStart = i
                while i < end, isTokenByte(bytes[i]) { i += 1 }
                guard i > valueStart else { throw .invalidChunkExtension }
            }
        }
    }

    private mutating func finishRequest() {
        state = .requestLine
        method = ""
        target = ""
        headers = HTTPHeaders()
        headerBytes = 0
        bodyBytes = 0
        requestBodyLimit = nil
        trailerBytes = 0
        emptyLinesSkipped = 0
    }

    private mutating func compactIfWorthIt() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            readIndex = 0
            scanIndex = 0
        } else if readIndex > 16 * 1024 && readIndex > buffer.count / 2 {
            buffer.removeFirst(readIndex)
            scanIndex -= readIndex
            readIndex = 0
        }
    }
}

// MARK: Character classes (RFC 9110 §5.6.2)

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

@inline(__always) func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: b - 0x30
    case 0x41...0x46: b - 0x41 + 10
    case 0x61...0x66: b - 0x61 + 10
    default: nil
    }
}

/// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
@inline(__always) func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
        UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
    default: false
    }
}
