/// Writes frames (RFC 6455 §5.2). A server's frames are never masked; a client's always are
/// (the tests and the load client play the client).
public enum WebSocketFrameEncoder {
    /// Appends one frame's header: opcode, FIN, the length in its shortest form, the mask key.
    public static func appendHeader(
        _ opcode: WebSocketOpcode, fin: Bool = true, length: Int, maskingKey: [UInt8]? = nil, into out: inout [UInt8]
    ) {
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        if length < 126 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(length >> 8))
            out.append(UInt8(length & 0xFF))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> shift)) }
        }
        if let maskingKey { out.append(contentsOf: maskingKey.prefix(4)) }
    }

    /// Appends a whole frame.
    public static func appendFrame(
        _ opcode: WebSocketOpcode, payload: some Collection<UInt8>, fin: Bool = true, maskingKey: [UInt8]? = nil, into out: inout [UInt8]
    ) {
        appendHeader(opcode, fin: fin, length: payload.count, maskingKey: maskingKey, into: &out)
        guard let maskingKey else {
            out.append(contentsOf: payload)
            return
        }
        for (i, byte) in payload.enumerated() { out.append(byte ^ maskingKey[i & 3]) }
    }

    /// A whole frame as bytes.
    public static func frame(_ opcode: WebSocketOpcode, payload: some Collection<UInt8>, fin: Bool = true, maskingKey: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 14)
        appendFrame(opcode, payload: payload, fin: fin, maskingKey: maskingKey, into: &out)
        return out
    }

    /// A close frame's payload: the code, then a reason cut to fit the 125-byte control limit
    /// on a character boundary.
    public static func closePayload(_ code: WebSocketCloseCode, reason: String = "") -> [UInt8] {
        var payload = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var used = 0
        for scalar in reason.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            guard used + encoded.count <= 123 else { break }
            payload += encoded
            used += encoded.count
        }
        return payload
    }
}
