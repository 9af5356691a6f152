import WebSocket

/// libFuzzer entry point for the WebSocket frame parser (`make fuzz`). Every input is parsed
/// whole and split at points the input chooses; both must agree. Every text message must be
/// valid UTF-8 by Swift's own decoder, and every event must survive being encoded as client
/// frames and parsed again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limit = 2048
    let whole = outcome([bytes[...]], limit: limit)
    if let first = bytes.first, bytes.count > 2 {
        let a = Int(first) % bytes.count, b = max(a, (Int(first) * 13) % bytes.count)
        let split = outcome([bytes[..<a], bytes[a..<b], bytes[b...]], limit: limit)
        precondition(split == whole, "parser result depends on how the input was split")
        let byByte = outcome(bytes.indices.map { bytes[$0...$0] }, limit: limit)
        precondition(byByte == whole, "parser result differs byte by byte")
    }
    var again: [UInt8] = []
    for event in whole.events {
        switch event {
        case .text(let text):
            precondition(String(validating: text, as: UTF8.self) != nil, "a text message that is not UTF-8 got through")
            precondition(text.count <= limit, "a message over the limit got through")
            WebSocketFrameEncoder.appendFrame(.text, payload: text, maskingKey: [1, 2, 3, 4], into: &again)
        case .ping(let payload): WebSocketFrameEncoder.appendFrame(.ping, payload: payload, maskingKey: [5, 6, 7, 8], into: &again)
        case .pong(let payload): WebSocketFrameEncoder.appendFrame(.pong, payload: payload, maskingKey: [0, 0, 0, 0], into: &again)
        case .close(let code, let reason):
            precondition(code?.isValidOnTheWire ?? true, "an invalid close code got through")
            let payload = code.map { [UInt8($0.rawValue >> 8), UInt8($0.rawValue & 0xFF)] + Array(reason.utf8) } ?? []
            WebSocketFrameEncoder.appendFrame(.close, payload: payload, maskingKey: [9, 9, 9, 9], into: &again)
        }
    }
    let reparsed = outcome([again[...]], limit: limit)
    precondition(reparsed.events == whole.events && reparsed.error == nil, "events did not survive a round trip")
    return 0
}

private struct Outcome: Equatable {
    var events: [WebSocketEvent] = []
    var error: WebSocketError?
}

private func outcome(_ pieces: [ArraySlice<UInt8>], limit: Int) -> Outcome {
    var parser = WebSocketParser(maxMessageBytes: limit)
    var result = Outcome()
    do {
        for piece in pieces {
            parser.append(piece)
            while let event = try parser.next() { result.events.append(event) }
        }
    } catch {
        result.error = error
    }
    return result
}
