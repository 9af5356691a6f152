import Domain
import Testing

@Suite("JSONMembers")
struct JSONMembersTests {
    /// Keys that sort differently by bytes than by `String`'s order or by insertion: uppercase
    /// before lowercase, a prefix before its extensions, non-ASCII last.
    static let keys = ["videoUUID", "videoURL", "taskUUID", "taskType", "status", "seed", "progress", "error", "cost",
                       "a", "ab", "B", "é", "Z", ""]

    @Test func writesTheBytesADictionaryWouldWhateverTheOrderMembersWereSetIn() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var members = JSONMembers()
            var dictionary: [String: JSONValue] = [:]
            for key in Self.keys.shuffled(using: &generator).prefix(Int.random(in: 0...Self.keys.count, using: &generator)) {
                let value: JSONValue = Bool.random(using: &generator) ? .int(Int64(key.utf8.count)) : .string("\"\(key)\"\n")
                members[key] = value
                dictionary[key] = value
            }
            var written: [UInt8] = []
            members.write(to: &written)
            #expect(written == JSONValue.object(dictionary).serializedBytes())
            #expect(members.dictionary == dictionary)
            #expect(members == JSONMembers(dictionary))
        }
    }

    @Test func settingAKeyAgainReplacesItAndNilRemovesIt() {
        var members: JSONMembers = ["status": "processing", "progress": 10]
        members["status"] = "success"
        members["progress"] = nil
        members["missing"] = nil
        #expect(members.members.map(\.key) == ["status"])
        #expect(members["status"] == "success")
        #expect(members["progress"] == nil)
        var bytes: [UInt8] = []
        members.write(to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"status":"success"}"#)
    }
}
