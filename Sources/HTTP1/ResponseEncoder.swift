/// Serialises response heads. Always writes `Content-Length` (never chunked: every body's size is
/// known) and `Date`, and `Connection: close` when the connection ends after this response.
public enum ResponseEncoder {
    /// The status line and header section, ending in the blank line.
    ///
    /// - Parameters:
    ///   - contentLength: the size of the representation; for HEAD it is the size a GET would send.
    ///   - date: a preformatted IMF-fixdate (the server caches one per second).
    public static func encodeHead(
        _ response: HTTPResponse, contentLength: Int64, keepAlive: Bool, date: String, into out: inout [UInt8]
    ) {
        out.reserveCapacity(out.count + 128 + response.headers.count * 32)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        out.append(contentsOf: response.status.reasonPhrase.utf8)
        out.append(contentsOf: "\r\n".utf8)
        let switching = response.status.code == 101
        for field in response.headers {
            // Handlers never set framing headers; the encoder owns them (but a 101 names the
            // protocol it switches to in `Connection: Upgrade`).
            if field.name.equalsASCIICaseInsensitive("content-length")
                || (field.name.equalsASCIICaseInsensitive("connection") && !switching)
                || field.name.equalsASCIICaseInsensitive("transfer-encoding")
            {
                continue
            }
            out.append(contentsOf: field.name.utf8)
            out.append(contentsOf: ": ".utf8)
            // A CR or LF in a value would split the response; drop such bytes rather than trust callers.
            for byte in field.value.utf8 where byte != 0x0D && byte != 0x0A { out.append(byte) }
            out.append(contentsOf: "\r\n".utf8)
        }
        if !response.status.forbidsBody {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(contentLength, to: &out)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: date.utf8)
        out.append(contentsOf: "\r\n".utf8)
        if !keepAlive, !switching { out.append(contentsOf: "Connection: close\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
    }

    /// The interim response sent before reading a body the client is holding back.
    public static let continueHead: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// The digits written in place, last first, into room made at the end of `out`: no array of
    /// digits to build and reverse (twice a response, for the status and the length).
    static func appendDecimal(_ value: some BinaryInteger, to out: inout [UInt8]) {
        let value = max(value, 0)  // statuses and lengths: never negative
        var count = 1
        var rest = value / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        let end = out.count + count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var v = value
        for index in stride(from: end - 1, through: end - count, by: -1) {
            out[index] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
    }
}
