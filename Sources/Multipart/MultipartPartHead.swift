/// A part's headers: the form field's `name`, a file's `filename`, its `Content-Type`, and the
/// header lines as sent (names lowercased).
public struct MultipartPartHead: Sendable, Equatable {
    public var name: String
    public var filename: String?
    public var contentType: String?
    public var headers: [Header]

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public init(name: String, filename: String? = nil, contentType: String? = nil, headers: [Header] = []) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
    }

    /// Header lines separated by CRLF (without the blank line that ends them).
    init(parsing bytes: ArraySlice<UInt8>, maxHeaders: Int) throws(MultipartError) {
        var headers: [Header] = []
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 13 {
                guard i + 1 < bytes.endIndex, bytes[i + 1] == 10 else { throw MultipartError(.malformed, "a part header line has a bare CR") }
                lines.append(bytes[start..<i])
                i += 2
                start = i
            } else if bytes[i] == 10 {
                throw MultipartError(.malformed, "a part header line ends in a bare LF")
            } else {
                i += 1
            }
        }
        if start < bytes.endIndex { lines.append(bytes[start..<bytes.endIndex]) }
        guard lines.count <= maxHeaders else { throw MultipartError(.headersTooLarge, "a part may have at most \(maxHeaders) header lines") }
        for line in lines {
            guard let first = line.first, first != 32, first != 9 else { throw MultipartError(.malformed, "part headers cannot be folded or empty") }
            guard let colon = line.firstIndex(of: 58) else { throw MultipartError(.malformed, "a part header line has no colon") }
            let nameBytes = line[line.startIndex..<colon]
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(Self.isTokenByte) else { throw MultipartError(.malformed, "a part header name is not a token") }
            let valueBytes = line[(colon + 1)...]
            guard valueBytes.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else {
                throw MultipartError(.malformed, "a part header value has control characters")
            }
            headers.append(Header(name: String(decoding: nameBytes, as: UTF8.self).lowercased(),
                                  value: String(decoding: valueBytes, as: UTF8.self).trimmingSpaces()))
        }
        let dispositions = headers.filter { $0.name == "content-disposition" }
        guard dispositions.count == 1, let disposition = dispositions.first else {
            throw MultipartError(.malformed, "each part needs exactly one Content-Disposition: form-data header")
        }
        let (type, parameters) = try Self.parameters(disposition.value)
        guard type.lowercased() == "form-data" else { throw MultipartError(.malformed, "a part's Content-Disposition is not form-data") }
        guard let name = parameters["name"] else { throw MultipartError(.malformed, "a part's Content-Disposition has no name") }
        self.name = name
        filename = parameters["filename"]
        contentType = headers.last { $0.name == "content-type" }?.value
        self.headers = headers
    }

    /// `form-data; name="a"; filename="b.png"` → ("form-data", [name: a, filename: b.png]).
    /// Quoted strings may hold `;` and backslash escapes; a parameter given twice is an error.
    static func parameters(_ value: String) throws(MultipartError) -> (String, [String: String]) {
        let chars = Array(value.unicodeScalars)
        var i = 0
        func skipSpaces() { while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 } }
        var type = ""
        while i < chars.count, chars[i] != ";" { type.unicodeScalars.append(chars[i]); i += 1 }
        var result: [String: String] = [:]
        while i < chars.count {
            i += 1  // the ";"
            skipSpaces()
            if i >= chars.count { break }
            var name = ""
            while i < chars.count, chars[i] != "=", chars[i] != ";" { name.unicodeScalars.append(chars[i]); i += 1 }
            name = name.trimmingSpaces().lowercased()
            guard i < chars.count, chars[i] == "=" else { throw MultipartError(.malformed, "a Content-Disposition parameter has no value") }
            i += 1
            skipSpaces()
            var parameterValue = ""
            if i < chars.count, chars[i] == "\"" {
                i += 1
                var closed = false
                while i < chars.count {
                    if chars[i] == "\\", i + 1 < chars.count {
                        parameterValue.unicodeScalars.append(chars[i + 1])
                        i += 2
                    } else if chars[i] == "\"" {
                        closed = true
                        i += 1
                        break
                    } else {
                        parameterValue.unicodeScalars.append(chars[i])
                        i += 1
                    }
                }
                guard closed else { throw MultipartError(.malformed, "a Content-Disposition quoted value is not closed") }
                skipSpaces()
                guard i >= chars.count || chars[i] == ";" else { throw MultipartError(.malformed, "text after a quoted Content-Disposition value") }
            } else {
                while i < chars.count, chars[i] != ";" { parameterValue.unicodeScalars.append(chars[i]); i += 1 }
                parameterValue = parameterValue.trimmingSpaces()
            }
            guard result[name] == nil else { throw MultipartError(.malformed, "the Content-Disposition parameter \(name) is given twice") }
            result[name] = parameterValue
        }
        return (type.trimmingSpaces(), result)
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || Array("!#$%&'*+-.^_`|~".utf8).contains(b)
    }
}
