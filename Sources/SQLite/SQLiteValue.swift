/// A value SQLite stores: the five storage classes.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var int64: Int64? {
        switch self {
        case .integer(let v): v
        case .real(let v): Int64(v)
        default: nil
        }
    }
    public var int: Int? { int64.map { Int($0) } }
    public var double: Double? {
        switch self {
        case .real(let v): v
        case .integer(let v): Double(v)
        default: nil
        }
    }
    public var string: String? {
        if case .text(let v) = self { return v }
        return nil
    }
    public var bytes: [UInt8]? {
        switch self {
        case .blob(let v): v
        case .text(let v): Array(v.utf8)
        default: nil
        }
    }
    public var bool: Bool? { int64.map { $0 != 0 } }
    public var isNull: Bool { self == .null }
}

/// Types that bind to a statement parameter.
public protocol SQLiteBindable: Sendable {
    var sqliteValue: SQLiteValue { get }
}

extension Int: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(Int64(self)) } }
extension Int64: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(self) } }
extension Double: SQLiteBindable { public var sqliteValue: SQLiteValue { .real(self) } }
extension String: SQLiteBindable { public var sqliteValue: SQLiteValue { .text(self) } }
extension Bool: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(self ? 1 : 0) } }
extension Array: SQLiteBindable where Element == UInt8 { public var sqliteValue: SQLiteValue { .blob(self) } }
extension SQLiteValue: SQLiteBindable { public var sqliteValue: SQLiteValue { self } }
extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public var sqliteValue: SQLiteValue { self?.sqliteValue ?? .null }
}

/// One result row, with columns by name or index.
public struct Row: Sendable {
    private let names: ColumnNames
    public let values: [SQLiteValue]

    init(names: ColumnNames, values: [SQLiteValue]) {
        self.names = names
        self.values = values
    }

    public var columns: [String] { names.names }

    /// By name with one hash look-up: records read thirty columns a row this way.
    public subscript(_ name: String) -> SQLiteValue {
        guard let i = names.index[name] else { return .null }
        return values[i]
    }

    public subscript(_ index: Int) -> SQLiteValue { values[index] }
}

/// A statement's column names, made once per prepared statement and shared by its rows.
final class ColumnNames: Sendable {
    let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        // The first of a repeated name wins, as a scan from the left would find it.
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}
