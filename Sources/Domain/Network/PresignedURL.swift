import Foundation

/// When a presigned URL stops working, from its own query (SigV4 `X-Amz-Date`+`X-Amz-Expires`,
/// GCS V4 `X-Goog-Date`+`X-Goog-Expires`): retrying an upload past it can only fail.
public enum PresignedURL {
    public static func expiry(of url: String) -> Double? {
        guard let query = url.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        var items: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { items[kv[0].lowercased()] = String(kv[1]).removingPercentEncoding ?? String(kv[1]) }
        }
        for prefix in ["x-amz-", "x-goog-"] {
            if let date = items[prefix + "date"].flatMap(parse), let seconds = items[prefix + "expires"].flatMap(Double.init) {
                return date + seconds
            }
        }
        return nil
    }

    public static func isExpired(_ url: String, now: Double) -> Bool {
        guard let expiry = expiry(of: url) else { return false }
        return now >= expiry
    }

    /// `20261121T211500Z` (ISO 8601 basic format, UTC).
    static func parse(_ text: String) -> Double? {
        let digits = Array(text.utf8)
        guard digits.count == 16, digits[8] == UInt8(ascii: "T"), digits[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: digits[range], as: UTF8.self)) }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8), let h = number(9..<11), let mi = number(11..<13),
            let s = number(13..<15)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: y, month: mo, day: d, hour: h, minute: mi, second: s))?.timeIntervalSince1970
    }
}
