import Foundation
import Testing
@testable import Gateway

/// The base64 that inline videos are streamed as: RFC 4648 with padding, equal to Foundation's
/// for every length around the 3-byte group boundaries, and appended after what is already there.
@Suite("reply body: base64 pieces")
struct ReplyBodyTests {
    @Test(arguments: [0, 1, 2, 3, 4, 5, 6, 47, 48, 49, 50, 1000, 49_152])
    func base64MatchesFoundation(length: Int) {
        let input = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var out: [UInt8] = Array("prefix:".utf8)
        Base64.append(input[...], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "prefix:" + Data(input).base64EncodedString())
    }

    /// A slice that does not start at 0 (a piece read into a reused buffer).
    @Test func aSliceIsEncodedFromItsOwnStart() {
        let bytes: [UInt8] = Array("xxhello".utf8)
        var out: [UInt8] = []
        Base64.append(bytes[2...], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "aGVsbG8=")
    }
}
