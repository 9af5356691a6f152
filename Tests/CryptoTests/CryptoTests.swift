import Crypto
import Foundation
import Testing

@Suite("Crypto")
struct CryptoTests {
    @Test func hmacSHA256MatchesRFC4231Case2() {
        let mac = Crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Crypto.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func hmacSHA256MatchesRFC4231Case1() {
        let mac = Crypto.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(Crypto.hex(mac) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func preparedKeyMatchesRFC4231AndTheOneShotEveryTime() async {
        let key = HMACKey(Array("Jefe".utf8))
        // Reused contexts are restarted, not fed on: the same message gives the same MAC again.
        for _ in 0..<3 {
            #expect(Crypto.hex(key.mac(Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        }
        #expect(Crypto.hex(HMACKey([UInt8](repeating: 0x0b, count: 20)).mac(Array("Hi There".utf8)))
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        // Many signers at once (more than the free list keeps), each message checked against the one-shot.
        let shared = HMACKey(Array("media key".utf8))
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    var bad = 0
                    for i in 0..<200 {
                        let message = Array("video-\(worker)-\(i).mp4:\(i * 7)".utf8)
                        if shared.mac(message) != Crypto.hmacSHA256(key: Array("media key".utf8), message: message) { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        #expect(key.mac([]) == Crypto.hmacSHA256(key: Array("Jefe".utf8), message: []))
    }

    @Test func digests() {
        #expect(Crypto.hex(Crypto.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Crypto.hex(Crypto.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test func randomBytesDiffer() {
        let a = Crypto.randomBytes(32), b = Crypto.randomBytes(32)
        #expect(a.count == 32 && a != b)
    }

    /// A thread still signing or hashing when the process exits must not meet a freed libcrypto:
    /// the probe uses it from an exit handler that runs after OpenSSL's own cleanup would have.
    @Test(.timeLimit(.minutes(1))) func libcryptoStillWorksWhileTheProcessExits() throws {
        let probe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("openssl-exit-probe")
        try #require(FileManager.default.isExecutableFile(atPath: probe.path), "swift build builds the probe beside the tests")
        let process = Process()
        process.executableURL = probe
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0,
                "the probe ended by \(process.terminationReason == .exit ? "exit" : "signal") \(process.terminationStatus)")
    }

    @Test func constantTimeEquals() {
        #expect(Crypto.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.constantTimeEquals([1, 2], [1, 2, 3]))
    }
}
