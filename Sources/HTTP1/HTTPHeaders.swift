/// Header fields in arrival order, duplicates kept.
///
/// Framing rules (RFC 9112 §6) depend on seeing every copy of a field, so nothing is merged or
/// dropped here; lookups compare names ASCII-case-insensitively.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field]

    public init(_ pairs: [(String, String)] = []) {
        fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every copy of `name` with one field.
    public mutating func set(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        fields.removeAll { $0.name.equalsASCIICaseInsensitive(name) }
    }

    /// The first value for `name`, if any.
    public subscript(name: String) -> String? {
        fields.first { $0.name.equalsASCIICaseInsensitive(name) }?.value
    }

    /// Every value for `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.compactMap { $0.name.equalsASCIICaseInsensitive(name) ? $0.value : nil }
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Whether a comma-separated list header (`Connection`, `Expect`) holds `token`.
    public func listContains(_ name: String, token: String) -> Bool {
        fields.contains { field in
            field.name.equalsASCIICaseInsensitive(name) && field.value.split(separator: ",").contains { element in
                element.trimmingOWS().equalsASCIICaseInsensitive(token)
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

extension StringProtocol {
    /// ASCII case-insensitive equality, enough for field names and tokens (RFC 9110 §5.1).
    /// Inlinable: other modules call it on every request, and unspecialised generic code looked
    /// up type metadata on every call.
    @inlinable
    public func equalsASCIICaseInsensitive(_ other: some StringProtocol) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            guard asciiLower(x) == asciiLower(y) else { return false }
        }
        return true
    }

    /// Strips optional whitespace (SP / HTAB) from both ends (RFC 9110 §5.6.3).
    public func trimmingOWS() -> Substring {
        var s = Substring(self)
        while let f = s.utf8.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.utf8.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}

@usableFromInline @inline(__always) func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
}
