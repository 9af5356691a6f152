import Foundation

/// The few values reelgate reads from S3's XML replies (`UploadId`, an error's `Code`, the keys
/// and upload ids of a listing), by element name. Not an XML parser: S3's replies are flat, and
/// the values read here never hold markup (`&amp;` and friends are decoded).
enum S3XML {
    static func value(of element: String, in body: [UInt8]) -> String? { values(of: element, in: String(decoding: body, as: UTF8.self)).first }

    /// Every `<element>text</element>`'s text, in order, entities decoded.
    static func values(of element: String, in text: String) -> [String] { blocks(element, in: text).map(unescape) }

    /// The raw content of each `<element>…</element>` (a listing's `<Upload>`s, say).
    static func blocks(_ element: String, in text: String) -> [String] {
        var found: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<\(element)>"), let close = rest[open.upperBound...].range(of: "</\(element)>") {
            found.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }
}
