import HTTP1

/// `20261204T123045Z` and `20261204`, in UTC, from seconds since 1970.
public struct AmzDate: Sendable {
    public let full: String
    public let day: String
    /// `2026-12-04T12:30:45`: how S3 listings write times (before their fraction and `Z`).
    public let iso: String

    public init(epochSeconds: Double) {
        let seconds = Int64(epochSeconds.rounded(.down))
        let secondOfDay = Int((seconds % 86_400 + 86_400) % 86_400)
        let (y, m, d) = HTTPDate.civil(fromDays: (seconds - Int64(secondOfDay)) / 86_400)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        day = "\(y)\(two(m))\(two(d))"
        full = "\(day)T\(two(secondOfDay / 3600))\(two(secondOfDay % 3600 / 60))\(two(secondOfDay % 60))Z"
        iso = "\(y)-\(two(m))-\(two(d))T\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60))"
    }
}
