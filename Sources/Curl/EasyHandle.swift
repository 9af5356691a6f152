import CCurl
import Glibc
import Synchronization

/// Per-transfer state the C callbacks reach through their userdata pointer.
final class TransferContext {
    let cancelled: CancelFlag
    // Response.
    var sinkFD: Int32 = -1
    var memory: [UInt8] = []
    var maxBytes: Int64
    var received: Int64 = 0
    var exceeded = false
    var sinkWriteFailed = false
    /// Where the body goes instead of `sinkFD` (``CurlRequest/Sink/stream(_:maxBytes:status:)``).
    var stream: (any TransferSink)?
    /// The stream refused further bytes.
    var streamRefused = false
    var headers: [(name: String, value: String)] = []
    // Request body.
    var uploadBytes: [UInt8] = []
    var uploadOffset = 0
    var uploadFD: Int32 = -1
    /// The final response's status, from its status line (0 until one arrives).
    var status = 0
    /// Only the body of a response with this status (-1: any 2xx) goes to `sinkFD`; others to
    /// `memory` (at most 64 KiB). 0: every body goes to the file.
    var fileOnlyWith = 0
    /// Bytes of `uploadFD` still to send; -1 for "to the end of the file".
    var uploadRemaining: Int64 = -1

    init(maxBytes: Int64, cancelled: CancelFlag) {
        self.maxBytes = maxBytes
        self.cancelled = cancelled
    }
}

/// Set from any thread to stop a transfer at its next progress callback.
public final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// A reusable libcurl easy handle, used by one thread at a time.
///
/// Reusing the handle (with `curl_easy_reset` between transfers) keeps its connection cache, so
/// repeated calls to one upstream skip the TCP and TLS handshakes.
final class EasyHandle {
    private let handle: UnsafeMutableRawPointer
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    init() {
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed") }
        handle = h
    }

    deinit { curl_easy_cleanup(handle) }

    /// An IPv6 literal in brackets, as curl's host:port lists want it.
    static func bracketed(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    func perform(_ request: CurlRequest, cancel: CancelFlag, proxy: String? = nil) -> Result<CurlResponse, CurlError> {
        curl_easy_reset(handle)
        let parts = URLParts(request.url)
        let hostName = parts?.host ?? "?"
        func fail(_ kind: CurlError.Kind, _ code: Int32, _ message: String) -> Result<CurlResponse, CurlError> {
            .failure(CurlError(kind: kind, curlCode: code, message: message, host: hostName))
        }

        let context: TransferContext
        var largeBuffer = false
        switch request.sink {
        case .memory(let max):
            context = TransferContext(maxBytes: Int64(max), cancelled: cancel)
        case .file(let path, let max), .successFile(let path, let max, _):
            context = TransferContext(maxBytes: max, cancelled: cancel)
            if case .successFile(_, _, let status) = request.sink { context.fileOnlyWith = status ?? -1 }
            // Media: large receive buffer, so a video is written in 512 KiB pieces, not 16 KiB.
            largeBuffer = true
            context.sinkFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            if context.sinkFD < 0 { return fail(.localFile, 0, "cannot create \(path): errno \(errno)") }
        case .stream(let sink, let max, let status):
            context = TransferContext(maxBytes: max, cancelled: cancel)
            context.fileOnlyWith = status ?? -1
            context.stream = sink
            largeBuffer = true
        }
        defer {
            if context.sinkFD >= 0 { close(context.sinkFD) }
            if context.uploadFD >= 0 { close(context.uploadFD) }
        }

        var uploadSize: Int64 = -1
        switch request.body {
        case .none: break
        case .bytes(let bytes):
            context.uploadBytes = bytes
            uploadSize = Int64(bytes.count)
        case .file(let path):
            context.uploadFD = open(path, O_RDONLY | O_CLOEXEC)
            guard context.uploadFD >= 0 else { return fail(.localFile, 0, "cannot open \(path): errno \(errno)") }
            var st = stat()
            fstat(context.uploadFD, &st)
            uploadSize = Int64(st.st_size)
        case .fileRange(let path, let offset, let length):
            context.uploadFD = open(path, O_RDONLY | O_CLOEXEC)
            guard context.uploadFD >= 0 else { return fail(.localFile, 0, "cannot open \(path): errno \(errno)") }
            var st = stat()
            fstat(context.uploadFD, &st)
            guard offset >= 0, length >= 0, offset + length <= Int64(st.st_size), lseek(context.uploadFD, off_t(offset), SEEK_SET) == off_t(offset) else {
                return fail(.localFile, 0, "\(path) has no bytes \(offset)..<\(offset + length)")
            }
            uploadSize = length
            context.uploadRemaining = length
        }

        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        let userdata = unmanaged.toOpaque()

        errorBuffer[0] = 0
        var lists: [UnsafeMutablePointer<curl_slist>] = []
        defer { lists.forEach { curl_slist_free_all($0) } }

        // Transport policy.
        setLong(CURLOPT_NOSIGNAL, 1)
        setString(CURLOPT_URL, request.url)
        setString(CURLOPT_PROTOCOLS_STR, "http,https")
        setString(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        setLong(CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0)
        setLong(CURLOPT_MAXREDIRS, 5)
        setLong(CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds))
        if let total = request.totalTimeout { setLong(CURLOPT_TIMEOUT_MS, Int(total.milliseconds)) }
        if let low = request.lowSpeed {
            setLong(CURLOPT_LOW_SPEED_LIMIT, low.bytesPerSecond)
            setLong(CURLOPT_LOW_SPEED_TIME, low.seconds)
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, &errorBuffer)
        // libcurl checks a response's Content-Length against this before any body; a HEAD has
        // none, and its Content-Length (an object's size) must not fail it.
        if request.method != "HEAD" { setOff(CURLOPT_MAXFILESIZE_LARGE, context.maxBytes) }
        if largeBuffer { setLong(CURLOPT_BUFFERSIZE, 512 * 1024) }
        switch request.body {
        case .file, .fileRange: setLong(CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024)
        default: break
        }

        // Address pinning: CONNECT_TO sends the connection to the checked address, whatever DNS
        // says by then; TLS still verifies the certificate against the URL's host name. Through
        // an egress proxy the same option makes curl tunnel with `CONNECT <address>:<port>`, so
        // the proxy never resolves the name itself. Kept-alive connections are reused only
        // within the pin: libcurl never mixes connections made with and without "connect to",
        // and reuses a pinned one only for the same host name, port and pinned address. So a
        // receiver's next webhook skips the TCP and TLS handshakes, yet an unpinned request
        // never rides a pinned connection, nor a request pinned elsewhere (DNS changed) an old one.
        if let address = request.pinnedAddress {
            // Empty host and port match whatever curl makes of the URL's host (a trailing dot,
            // case): the pin can never silently miss. Redirects are off, so no other host is
            // ever asked for on this handle.
            if let list = makeList(["::\(Self.bracketed(address)):\(parts?.port ?? 443)"]) {
                lists.append(list)
                _ = ccurl_setopt_slist(handle, CURLOPT_CONNECT_TO, list)
            }
        }
        // The proxy environment variables are never read: a proxy that resolves names itself
        // would undo the pinning. Only an explicitly configured proxy is used ("" disables).
        setString(CURLOPT_PROXY, proxy ?? "")
        setString(CURLOPT_NOPROXY, "")  // and NO_PROXY cannot route around a configured proxy
        if proxy != nil, request.pinnedAddress != nil { setLong(CURLOPT_HTTPPROXYTUNNEL, 1) }

        // Method and body.
        switch request.method {
        case "GET": setLong(CURLOPT_HTTPGET, 1)
        case "HEAD": setLong(CURLOPT_NOBODY, 1)
        case "POST":
            setLong(CURLOPT_POST, 1)
            setOff(CURLOPT_POSTFIELDSIZE_LARGE, max(uploadSize, 0))
        case "PUT":
            setLong(CURLOPT_UPLOAD, 1)
            setOff(CURLOPT_INFILESIZE_LARGE, max(uploadSize, 0))
        default:
            setString(CURLOPT_CUSTOMREQUEST, request.method)
            if uploadSize >= 0 {
                setLong(CURLOPT_UPLOAD, 1)
                setOff(CURLOPT_INFILESIZE_LARGE, uploadSize)
            }
        }
        if request.method == "POST" || request.method == "PUT" || uploadSize >= 0 {
            _ = ccurl_setopt_data_callback(handle, CURLOPT_READFUNCTION, readCallback)
            _ = ccurl_setopt_pointer(handle, CURLOPT_READDATA, userdata)
        }

        // Headers; an empty Expect stops curl from waiting up to 1 s for 100 Continue.
        var headerLines = request.headers.map { "\($0.name): \($0.value)" }
        headerLines.append("Expect:")
        if let list = makeList(headerLines) {
            lists.append(list)
            _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        }

        // Response and progress callbacks.
        _ = ccurl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback)
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, userdata)
        _ = ccurl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback)
        _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, userdata)
        setLong(CURLOPT_NOPROGRESS, 0)
        _ = ccurl_setopt_xferinfo_callback(handle, progressCallback)
        _ = ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, userdata)

        let code = curl_easy_perform(handle)
        if code != CURLE_OK {
            var kind = CurlError.kind(for: Int32(code.rawValue))
            var message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if message.isEmpty { message = String(cString: curl_easy_strerror(code)) }
            if kind == .invalidURL, message.contains("HTTP/0.9") {
                kind = .transfer  // the peer answered with something that is not HTTP
            }
            if context.exceeded {
                kind = .tooLarge
                message = "response larger than \(context.maxBytes) bytes"
            } else if context.sinkWriteFailed {
                kind = .localFile
                message = "writing the response to disk failed"
            } else if context.streamRefused {
                kind = .cancelled
                message = "the receiver of the response went away"
            } else if cancel.isCancelled {
                kind = .cancelled
            }
            return fail(kind, Int32(code.rawValue), message)
        }
        if context.sinkFD >= 0, fsync(context.sinkFD) != 0 {
            return fail(.localFile, 0, "fsync failed: errno \(errno)")
        }

        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var ip: UnsafeMutablePointer<CChar>?
        _ = ccurl_getinfo_string(handle, CURLINFO_PRIMARY_IP, &ip)
        var total = 0.0
        _ = ccurl_getinfo_double(handle, CURLINFO_TOTAL_TIME, &total)
        return .success(
            CurlResponse(
                status: status, headers: context.headers, body: context.memory, bodyBytes: context.received,
                primaryIP: ip.map { String(cString: $0) } ?? "", totalSeconds: total, url: request.url))
    }

    private func setLong(_ option: CURLoption, _ value: Int) { _ = ccurl_setopt_long(handle, option, value) }
    private func setOff(_ option: CURLoption, _ value: Int64) { _ = ccurl_setopt_off(handle, option, curl_off_t(value)) }
    private func setString(_ option: CURLoption, _ value: String) { _ = ccurl_setopt_string(handle, option, value) }

    private func makeList(_ items: [String]) -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>?
        for item in items { list = curl_slist_append(list, item) }
        return list
    }
}

// MARK: C callbacks (non-capturing, so they convert to C function pointers)

private let writeCallback: ccurl_data_callback = { pointer, size, count, userdata in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    let length = size * count
    guard length > 0, let pointer else { return 0 }
    if context.received + Int64(length) > context.maxBytes {
        context.exceeded = true
        return 0  // anything but `length` aborts the transfer with CURLE_WRITE_ERROR
    }
    let toFile = switch context.fileOnlyWith {
    case 0: true
    case -1: (200..<300).contains(context.status)
    default: context.status == context.fileOnlyWith
    }
    if let stream = context.stream, toFile {
        guard stream.receive(UnsafeRawBufferPointer(start: pointer, count: length)) else {
            context.streamRefused = true
            return 0
        }
    } else if context.sinkFD >= 0, toFile {
        var written = 0
        while written < length {
            let n = write(context.sinkFD, pointer + written, length - written)
            if n < 0 {
                if errno == EINTR { continue }
                context.sinkWriteFailed = true
                return 0
            }
            written += n
        }
    } else if (context.sinkFD < 0 && context.stream == nil) || context.memory.count < 64 << 10 {
        pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            context.memory.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
        }
    }
    context.received += Int64(length)
    return length
}

private let headerCallback: ccurl_data_callback = { pointer, size, count, userdata in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    let length = size * count
    guard let pointer else { return length }
    let line: String = pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        context.headers = []  // a new response (after 100 Continue or a redirect) starts over
        context.status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon])
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: " \t\r\n")
        context.headers.append((name, value))
    }
    return length
}

private let readCallback: ccurl_data_callback = { pointer, size, count, userdata in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    let capacity = size * count
    guard let pointer else { return 0 }
    if context.uploadFD >= 0 {
        let wanted = context.uploadRemaining >= 0 ? min(capacity, Int(context.uploadRemaining)) : capacity
        if wanted == 0 { return 0 }
        while true {
            let n = read(context.uploadFD, pointer, wanted)
            if n < 0, errno == EINTR { continue }
            if n < 0 { return Int(CURL_READFUNC_ABORT) }
            if context.uploadRemaining >= 0 { context.uploadRemaining -= Int64(n) }
            return n
        }
    }
    let remaining = context.uploadBytes.count - context.uploadOffset
    let n = min(remaining, capacity)
    if n > 0 {
        context.uploadBytes.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(pointer).copyMemory(from: bytes.baseAddress! + context.uploadOffset, byteCount: n)
        }
        context.uploadOffset += n
    }
    return n
}

private let progressCallback: ccurl_xferinfo_callback = { userdata, _, _, _, _ in
    let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
    return context.cancelled.isCancelled ? 1 : 0
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
