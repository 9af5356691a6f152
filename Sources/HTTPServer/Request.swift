import HTTP1

/// A complete request as handlers see it: head, whole body, and what routing extracted.
public struct Request: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    /// Values of `:name` segments of the matched route.
    public var pathParameters: [String: String]
    /// The peer's address, `ip:port`.
    public var remoteAddress: String
    /// What admitting the head learned of the caller (``BodyAdmission/identity``), if anything.
    public var admittedIdentity: (any Sendable)?
    /// The route its head was admitted for (``Router/admit(_:)``): not looked up twice.
    var resolution: Router.Resolution?

    public init(head: HTTPRequestHead, body: [UInt8] = [], pathParameters: [String: String] = [:], remoteAddress: String = "")
    {
        self.head = head
        self.body = body
        self.pathParameters = pathParameters
        self.remoteAddress = remoteAddress
    }

    public var method: String { head.method }
    public var path: String { head.path }
    public var headers: HTTPHeaders { head.headers }

    /// Decoded query parameters (`a=1&b=x%20y`); later duplicates win.
    public var queryParameters: [String: String] {
        guard let query = head.query else { return [:] }
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = percentDecode(parts[0])
            result[key] = parts.count > 1 ? percentDecode(parts[1]) : ""
        }
        return result
    }
}

/// Decodes `%XX` escapes and `+` as space; malformed escapes are kept literally.
public func percentDecode(_ s: Substring) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(s.utf8.count)
    var it = Array(s.utf8)[...]
    while let b = it.popFirst() {
        if b == UInt8(ascii: "+") {
            bytes.append(0x20)
        } else if b == UInt8(ascii: "%"), it.count >= 2, let h = hexDigit(it[it.startIndex]),
            let l = hexDigit(it[it.startIndex + 1])
        {
            bytes.append(h << 4 | l)
            it = it.dropFirst(2)
        } else {
            bytes.append(b)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexDigit(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: b - 0x30
    case 0x41...0x46: b - 0x37
    case 0x61...0x66: b - 0x57
    default: nil
    }
}
