import Domain
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
}
