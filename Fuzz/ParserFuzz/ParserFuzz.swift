import Domain
import HTTP1

/// libFuzzer entry point (`make fuzz`). Every input goes through the HTTP parser whole and split
/// at points the input chooses; both must agree (a split-dependent parser is a smuggling bug).
/// The same bytes go through the strict JSON parser, whose output must survive a round trip.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = ParserLimits(maxRequestTargetBytes: 512, maxHeaderBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 4096)
    let whole = outcome([bytes[...]], limits: limits)
    if let first = bytes.first, bytes.count > 2 {
        let a = Int(first) % bytes.count, b = max(a, (Int(first) * 7) % bytes.count)
        let split = outcome([bytes[..<a], bytes[a..<b], bytes[b...]], limits: limits)
        precondition(split == whole, "parser result depends on how the input was split")
    }
    if let value = try? JSONParser.parse(bytes) {
        let again = try? JSONParser.parse(value.serialized())
        precondition(again == value, "JSON did not survive a round trip")
    }
    return 0
}

private func outcome(_ pieces: [ArraySlice<UInt8>], limits: ParserLimits) -> [String] {
    var parser = RequestParser(limits: limits)
    var events: [String] = []
    var body: [UInt8] = []
    do {
        for piece in pieces {
            parser.append(piece)
            while let event = try parser.next() {
                switch event {
                case .head(let head): events.append("head \(head.method) \(head.target) \(head.framing) \(head.headers.count)")
                case .body(let bytes): body += bytes
                case .end:
                    events.append("body \(body)")
                    body = []
                }
            }
        }
    } catch {
        events.append("error \(error)")
    }
    return events
}
