/// A small JSON object kept as its members in key order (the order ``JSONValue`` writes an
/// object's keys in), for the objects a hot path builds a few fields at a time and writes at once:
/// a `getResponse` item. Writing one is a walk over the members, where a `[String: JSONValue]`
/// hashes every key on insertion and sorts its keys again on every write (with building the
/// items, 17% of the gateway's time answering polls of a finished task).
///
/// Lookups are linear: meant for a dozen members, not for large objects.
public struct JSONMembers: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var members: [(key: String, value: JSONValue)]

    public init() { members = [] }

    /// Room for `capacity` members: growing the array copies them.
    public init(capacity: Int) {
        members = []
        members.reserveCapacity(capacity)
    }

    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.map { ($0.key, $0.value) }.sorted { JSONText.utf8Precedes($0.key, $1.key) }
    }

    /// A key given twice traps, as in a `Dictionary` literal: it is a mistake in the code.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(Dictionary(uniqueKeysWithValues: elements))
    }

    public var isEmpty: Bool { members.isEmpty }

    /// Setting nil removes the member; a new key goes to its place in key order (from the end:
    /// members set in order cost one comparison each).
    public subscript(key: String) -> JSONValue? {
        get { members.first { $0.key == key }?.value }
        set {
            if let index = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[index].value = newValue } else { members.remove(at: index) }
                return
            }
            guard let newValue else { return }
            var index = members.endIndex
            while index > members.startIndex, JSONText.utf8Precedes(key, members[index - 1].key) { index -= 1 }
            members.insert((key, newValue), at: index)
        }
    }

    /// The same members as a dictionary, for code that edits or merges objects.
    public var dictionary: [String: JSONValue] {
        Dictionary(members, uniquingKeysWith: { _, last in last })
    }

    /// The same bytes as ``JSONValue/write(to:)`` of ``dictionary`` as an object.
    public func write(to out: inout [UInt8]) {
        JSONValue.writeObject(members.lazy.map { ($0.key, $0.value) }, to: &out)
    }

    public static func == (a: JSONMembers, b: JSONMembers) -> Bool {
        a.members.elementsEqual(b.members) { $0.key == $1.key && $0.value == $1.value }
    }
}
