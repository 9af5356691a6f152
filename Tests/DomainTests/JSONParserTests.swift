import Domain
import Foundation
import Testing

@Suite("JSONParser")
struct JSONParserTests {
    @Test func parsesEveryKindAndKeepsIntegersApart() throws {
        let v = try JSONParser.parse(#" {"a":[1,-2,3.5,1e2,true,false,null,"x\u00e9\ud83c\udfac\n"],"b":{}} "#)
        #expect(v["a"]?.array == [.int(1), .int(-2), .double(3.5), .double(100), .bool(true), .bool(false), .null, .string("xé🎬\n")])
        #expect(v["b"] == .object([:]))
    }

    @Test(arguments: [
        #"{"a":1,"a":2}"#, "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "[1 2]", "\"\u{01}\"", #""\ud800""#, #""\x""#,
        "tru", "[1] x", "", "{'a':1}", "NaN", #"{"a"}"#, "1e", #""abc"#,
    ])
    func rejects(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect((try? JSONParser.parse(ok)) != nil)
    }

    @Test func serialisationIsCanonicalAndRoundTrips() throws {
        let a = try JSONParser.parse(#"{"b":1,"a":{"y":[1,"q\"x"],"x":null},"c":2.5}"#)
        let b = try JSONParser.parse(#"{"c":2.5,"a":{"x":null,"y":[1,"q\"x"]},"b":1}"#)
        #expect(a.serialized() == b.serialized())
        #expect(a.serialized() == #"{"a":{"x":null,"y":[1,"q\"x"]},"b":1,"c":2.5}"#)
        #expect(try JSONParser.parse(a.serialized()) == a)
    }

    /// Keys sort by their UTF-8 bytes (the canonical form idempotency hashes rely on), which for
    /// non-ASCII and non-normalised keys is not Swift's `String` order.
    @Test func keysSortByTheirUTF8Bytes() {
        let keys = ["", "a", "ab", "b", "B", "é", "e\u{301}", "z", "🎬", "\u{7f}", "aa", "a\u{0}", "~", "ÿ", "Ā"]
        for x in keys {
            for y in keys {
                #expect(JSONText.utf8Precedes(x, y) == x.utf8.lexicographicallyPrecedes(y.utf8), "\(x) < \(y)")
            }
        }
        // "é" and "e\u{301}" are one key to a Swift dictionary (canonically equivalent).
        let object = JSONValue.object(Dictionary(keys.map { ($0, JSONValue.null) }, uniquingKeysWith: { a, _ in a }))
        let expected = object.object!.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { "\(JSONText.quote($0)):null" }.joined(separator: ",")
        #expect(object.serialized() == "{\(expected)}")
    }
}

@Suite("Base64URL")
struct Base64URLTests {
    /// RFC 4648 §10 vectors, in the URL alphabet and without padding, and every length against
    /// Foundation's encoder with the replacements it replaces.
    @Test func matchesTheRFCAndFoundation() {
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (input, expected) in vectors { #expect(Base64URL.encode(Array(input.utf8)) == expected) }
        var bytes: [UInt8] = []
        for length in 0..<70 {
            let foundation = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == foundation, "length \(length)")
            bytes.append(UInt8((length * 151 + 250) % 256))
        }
    }
}

@Suite("JSONText")
struct JSONTextTests {
    @Test func quotesWhatMustBeEscapedAndPassesTheRestThrough() throws {
        #expect(JSONText.quote("") == "\"\"")
        #expect(JSONText.quote("plain") == "\"plain\"")
        #expect(JSONText.quote("a\"b\\c\nd\re\tf\u{1}g\u{1f}") == "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\"")
        #expect(JSONText.quote("héllo ✓ 🎬\"") == "\"héllo ✓ 🎬\\\"\"")
        // Whatever the input, the parser reads back what was quoted.
        for text in ["\u{0}\u{7f}", "é\u{1}🎬", String(repeating: "\\\"", count: 40), "end\\"] {
            #expect(try JSONParser.parse(JSONText.quote(text)).string == text)
        }
    }
}
