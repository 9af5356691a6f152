import Multipart

/// libFuzzer entry point (`make fuzz`) for the multipart/form-data parser: the input's first byte
/// picks split points; the parts read from the whole input and from its pieces must agree (a
/// split-dependent parser would read a different file or field than a proxy in front of it), and
/// every part's bytes must be a slice of the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var limits = MultipartLimits()
    limits.maxParts = 8
    limits.maxHeaderBytes = 512
    limits.maxFieldBytes = 1024
    limits.maxFileBytes = 2048
    let whole = outcome([bytes[...]], limits: limits)
    if let first = bytes.first, bytes.count > 2 {
        let a = Int(first) % bytes.count, b = max(a, (Int(first) * 7) % bytes.count)
        precondition(outcome([bytes[..<a], bytes[a..<b], bytes[b...]], limits: limits) == whole, "parts depend on how the body was split")
        precondition(outcome(bytes.map { [$0][...] }, limits: limits) == whole, "parts differ when fed byte by byte")
    }
    return 0
}

private func outcome(_ pieces: [ArraySlice<UInt8>], limits: MultipartLimits) -> String {
    var events: [String] = []
    var body: [UInt8] = []
    do {
        var parser = try MultipartParser(boundary: "fuzz", limits: limits)
        for piece in pieces {
            for event in try parser.feed(piece) {
                switch event {
                case .begin(let head): events.append("begin \(head.name) \(head.filename ?? "-") \(head.contentType ?? "-") \(head.headers.count)")
                case .data(let bytes): body += bytes
                case .end:
                    events.append("part \(body)")
                    body = []
                }
            }
        }
        try parser.finish()
        events.append("complete")
    } catch {
        // A refused body is refused whole: what came out before the error does not count.
        return "error \(error.kind)"
    }
    return events.joined(separator: "\n")
}
