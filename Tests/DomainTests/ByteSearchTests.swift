import Domain
import Testing

@Suite("Byte search")
struct ByteSearchTests {
    @Test func findsBytesAnywhereAndOnlyWhole() {
        #expect(ByteSearch.contains("abc", ""))
        #expect(ByteSearch.contains("", ""))
        #expect(!ByteSearch.contains("", "a"))
        #expect(ByteSearch.contains("key sk-live-123456 end", "sk-live-123456"))
        #expect(ByteSearch.contains("sk-live-123456", "sk-live-123456"))
        #expect(!ByteSearch.contains("sk-live-12345", "sk-live-123456"))  // longer needle than text
        #expect(ByteSearch.contains("aaab", "aab"))  // a partial match first, then the whole
        #expect(!ByteSearch.contains("xab", "abc"))  // a first byte in the last needle.count - 1 bytes
        #expect(ByteSearch.contains("xxabc", "abc"))  // at the very end
        #expect(ByteSearch.contains("{\"a\":1,\"includeCost\":true}", "\"includeCost\":"))
        #expect(!ByteSearch.contains("{\"p\":\"includeCost\"}", "\"includeCost\":"))
        #expect(ByteSearch.contains("naïve café", "é"))
        // Bytes, not characters: a precomposed é is not an e followed by a combining accent.
        #expect(!ByteSearch.contains("caf\u{E9}", "cafe\u{301}"))
    }
}
