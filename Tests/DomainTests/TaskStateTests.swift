import Domain
import Testing

@Suite("TokenBucket")
struct TokenBucketTests {
    @Test func spendsThenRefillsAtTheRate() {
        var bucket = TokenBucket(capacity: 60, period: 60, now: 0)  // one token a second
        for _ in 0..<60 { #expect(bucket.take(now: 0) == nil) }
        #expect(bucket.take(now: 0) == 1.0)
        #expect(bucket.take(now: 0.5) == 0.5)
        #expect(bucket.take(now: 1.0) == nil)
        #expect(bucket.take(now: 1000) == nil)
        #expect(bucket.tokens == 59)  // refill stops at capacity
    }
}

@Suite("RetryPolicy")
struct RetryPolicyTests {
    @Test func exponentialCappedJitteredAndHonoursHints() {
        let policy = RetryPolicy(base: 1, cap: 60, maxAttempts: 8)
        #expect(policy.delay(afterAttempt: 1, hint: nil, random: 0.999) < 1)
        #expect(policy.delay(afterAttempt: 4, hint: nil, random: 0.5) == 4)
        #expect(policy.delay(afterAttempt: 20, hint: nil, random: 0.5) == 30)
        #expect(policy.delay(afterAttempt: 1, hint: 12, random: 0.1) == 12)
        #expect(policy.shouldRetry(attempt: 7) && !policy.shouldRetry(attempt: 8))
    }
}

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    @Test func opensAfterTheThresholdAndTrialsAfterTheCooldown() {
        var breaker = CircuitBreaker(threshold: 3, cooldown: 10)
        for _ in 0..<2 { breaker.failed(now: 0) }
        let stillClosed = breaker.allow(now: 0)
        #expect(stillClosed)
        breaker.failed(now: 1)
        #expect(breaker.state == .open(until: 11))
        let whileOpen = breaker.allow(now: 5)
        #expect(!whileOpen)
        #expect(breaker.retryAfter(now: 5) == 6)
        let trial = breaker.allow(now: 11)
        let second = breaker.allow(now: 11)
        #expect(trial && !second)  // exactly one trial
        breaker.failed(now: 12)
        #expect(breaker.state == .open(until: 22))  // a failed trial reopens at once
        let nextTrial = breaker.allow(now: 22)
        #expect(nextTrial)
        breaker.succeeded()
        let closed = breaker.allow(now: 22)
        #expect(breaker.state == .closed && closed)
    }

    @Test func successResetsTheCount() {
        var breaker = CircuitBreaker(threshold: 2, cooldown: 10)
        breaker.failed(now: 0)
        breaker.succeeded()
        breaker.failed(now: 0)
        #expect(breaker.state == .closed)
    }
}
