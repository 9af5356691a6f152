import Crypto
import Domain
@testable import Gateway
import TestSupport
import Testing

/// Reelgate's own media links: `<public URL>/v1/media/<file>?exp=<expiry>&sig=<HMAC-SHA256 of
/// "<file>:<expiry>", base64url>`, which `verify` accepts until the expiry and only unchanged.
@Suite("Media links")
struct MediaStoreTests {
    @Test func aLinkIsSignedOverItsFileAndExpiryAndVerifiesUnchangedOnly() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let key = Array("link-key".utf8)
        let media = try MediaStore(directory: dir.file("media"), publicURL: PublicURL("https://gw.example"), key: key)
        let path = media.signedPath(videoUUID: "0d4f7c1e-1111-4222-8333-944455556666", ext: "mp4", expiresAt: 1_900_000_000)
        let expected = Base64URL.encode(Crypto.hmacSHA256(key: key, message: Array("0d4f7c1e-1111-4222-8333-944455556666.mp4:1900000000".utf8)))
        #expect(path == "/v1/media/0d4f7c1e-1111-4222-8333-944455556666.mp4?exp=1900000000&sig=\(expected)")
        #expect(media.signedURL(videoUUID: "0d4f7c1e-1111-4222-8333-944455556666", ext: "mp4", expiresAt: 1_900_000_000) == "https://gw.example" + path)
        let links = media.signedLinks(videoUUID: "0d4f7c1e-1111-4222-8333-944455556666", ext: "mp4", expiresAt: 1_900_000_000)
        #expect(links.path == path && links.url == "https://gw.example" + path)

        let file = "0d4f7c1e-1111-4222-8333-944455556666.mp4"
        #expect(media.verify(file: file, exp: "1900000000", sig: expected, now: 1_800_000_000) == .valid)
        #expect(media.verify(file: file, exp: "1900000000", sig: expected, now: 1_900_000_001) == .expired)
        #expect(media.verify(file: file, exp: "1900000001", sig: expected, now: 1_800_000_000) == .badSignature)
        #expect(media.verify(file: "other.mp4", exp: "1900000000", sig: expected, now: 1_800_000_000) == .badSignature)
    }
}
