/// A one-dimensional array parameter in PostgreSQL's text form (`{"a","b",NULL}`), so a whole
/// batch of rows goes in one statement through `unnest($1::text[], …)`.
///
/// Every element is double-quoted with `"` and `\` escaped, which is all the array input syntax
/// needs for arbitrary text (commas, braces, spaces, `NULL` spelled as text stay data). A NUL
/// cannot be in PostgreSQL text at all; libpq would cut the parameter there, so it is refused.
public enum PostgresArray {
    public static func literal(_ elements: [String?]) throws(PostgresError) -> String {
        var out = "{"
        out.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { out += "," }
            guard let element else {
                out += "NULL"
                continue
            }
            if element.utf8.contains(0) { throw PostgresError(.statement, message: "a text value contains NUL") }
            out += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { out += "\\" }
                out.unicodeScalars.append(character)
            }
            out += "\""
        }
        return out + "}"
    }
}
