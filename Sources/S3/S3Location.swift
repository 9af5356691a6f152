import Foundation

/// Where an S3-compatible store is and how its objects are addressed: path style
/// (`https://host/bucket/key`, what MinIO and an IP endpoint need) or virtual-host style
/// (`https://bucket.host/key`, AWS's default). Pure: the URL and `Host` of an object, built once
/// here for requests and presigned URLs alike.
public struct S3Location: Sendable, Equatable {
    public let scheme: String
    /// Host as written, without port.
    public let host: String
    public let port: Int?
    public let region: String
    public let bucket: String
    public let pathStyle: Bool

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `endpoint` is `http(s)://host[:port]` (no path); `pathStyle` nil picks path style for an
    /// IP address or `localhost`, where a bucket cannot be a subdomain.
    public init(endpoint: String, region: String, bucket: String, pathStyle: Bool? = nil) throws {
        let lower = endpoint.lowercased()
        guard let schemeEnd = endpoint.range(of: "://"), lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw Invalid(description: "the S3 endpoint must be an http:// or https:// URL")
        }
        scheme = String(lower[..<schemeEnd.lowerBound])
        var authority = String(endpoint[schemeEnd.upperBound...])
        while authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.isEmpty, !authority.contains("/"), !authority.contains("@"), !authority.contains("?") else {
            throw Invalid(description: "the S3 endpoint must be scheme://host[:port], without a path or credentials")
        }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[...close])
            let rest = authority[authority.index(after: close)...]
            port = rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else {
                throw Invalid(description: "the S3 endpoint's port is not a number in 1…65535")
            }
            port = number
        } else {
            host = authority
            port = nil
        }
        guard !bucket.isEmpty, bucket.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw Invalid(description: "the S3 bucket name may hold letters, digits, '-' and '.'")
        }
        guard !region.isEmpty else { throw Invalid(description: "the S3 region is empty") }
        self.region = region
        self.bucket = bucket
        let ipOrLocal = host.hasPrefix("[") || host.lowercased() == "localhost" || host.split(separator: ".").allSatisfy { UInt8($0) != nil }
        self.pathStyle = pathStyle ?? ipOrLocal
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let name = pathStyle ? host : "\(bucket).\(host)"
        guard let port, port != (scheme == "https" ? 443 : 80) else { return name }
        return "\(name):\(port)"
    }

    /// The path of an object (or of the bucket, for an empty key), percent-encoded as SigV4
    /// canonicalises it: every byte but unreserved ones and `/`.
    public func path(key: String) -> String {
        let encoded = S3Location.encode(key, keepSlash: true)
        return pathStyle ? "/\(bucket)/\(encoded)" : "/\(encoded)"
    }

    public func url(key: String, query: String = "") -> String {
        "\(scheme)://\(hostHeader)\(path(key: key))\(query.isEmpty ? "" : "?" + query)"
    }

    /// RFC 3986 unreserved characters stay, everything else is `%XX` of its UTF-8 bytes (upper
    /// case), as SigV4 requires; `/` stays in a path.
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out += "/"
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
