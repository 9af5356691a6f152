import Gateway
import Testing

@Suite("Standard Webhooks signing")
struct WebhookSignerTests {
    /// The vector the reference implementation (`standardwebhooks` on PyPI) signs to.
    @Test func matchesTheReferenceVector() {
        let signer = WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func anyChangeChangesTheSignature() {
        let signer = WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let base = signer.signature(id: "a", timestamp: 1, body: [1])
        #expect(signer.signature(id: "b", timestamp: 1, body: [1]) != base)
        #expect(signer.signature(id: "a", timestamp: 2, body: [1]) != base)
        #expect(signer.signature(id: "a", timestamp: 1, body: [2]) != base)
        #expect(WebhookSigner(secret: "whsec_AAAA").signature(id: "a", timestamp: 1, body: [1]) != base)
    }
}
