import Testing
@testable import Gateway

/// The `Authorization` header's key, as every authenticated request reads it.
@Suite("API keys")
struct AuthenticatorTests {
    @Test func theBearerKeyIsReadAsRFC9110Writes() {
        let cases: [(String?, String?)] = [
            ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER abc", "abc"), ("Bearer   abc \t", "abc"),
            ("Bearer a b", "a b"), ("  Bearer abc", "abc"),
            (nil, nil), ("", nil), ("Bearer", nil), ("Bearer ", nil), ("Bearer \t ", nil),
            ("Basic abc", nil), ("Bearerabc", nil), ("Bearer\tabc", nil), ("Bearers abc", nil), ("Bear abc", nil),
            ("Bearer ключ", "ключ"),
            // The separator is the byte SP (RFC 9110 §11.6.2), even before a combining mark, which
            // a split by `Character` would have joined to it: such a key simply matches none.
            ("Bearer \u{301}abc", "\u{301}abc"),
        ]
        for (header, key) in cases {
            #expect(Authenticator.bearer(header) == key, "\(String(describing: header))")
        }
    }

    @Test func aKeyMatchesOnlyItself() {
        let keys = Authenticator(keys: [.init(name: "alice", key: "alice-key-0123456789", role: .client)])
        #expect(keys.authenticate("alice-key-0123456789")?.name == "alice")
        #expect(keys.authenticate("alice-key-012345678") == nil)
        #expect(keys.authenticate("alice-key-01234567890") == nil)
        #expect(keys.authenticate("") == nil)
    }
}
