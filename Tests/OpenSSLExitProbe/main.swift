// Uses libcrypto from an exit handler registered before OpenSSL's first use. Handlers run in the
// reverse order of registration, so this one runs after the cleanup OpenSSL registers at its
// first initialisation, if it registers one: it stands for a thread still signing as the process
// ends. It exits 0 only if the MAC is still right there; without the setup in `CCryptoSetup`,
// OpenSSL has freed its state by then and the MAC crashes (`CryptoTests` runs it).
import Crypto
import Glibc

/// RFC 4231 test case 2, known before anything touches OpenSSL.
let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

func rfc4231Case2() -> String {
    Crypto.hex(Crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
}

atexit {
    if rfc4231Case2() != expected { _exit(3) }
}
// The first use initialises OpenSSL, which registers its cleanup now if it does so at all.
guard rfc4231Case2() == expected else { _exit(2) }
_ = Crypto.randomBytes(16)
_ = Crypto.sha256("initialised")
exit(0)
