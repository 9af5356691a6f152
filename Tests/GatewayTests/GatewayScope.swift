import Foundation
import Synchronization
import TestSupport
import Testing

/// Every ``TestGateway`` a test starts is stopped when the test ends, passed or failed: a failing
/// `try` or `#require` never leaks a server, its transfer threads and its temp dir. Suites that
/// start gateways carry the `.stopsGateways` trait; `TestGateway.start` registers with the scope.
struct StopsGateways: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    /// One scope per test case (not one around the whole suite), so each test's gateways go when it ends.
    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { testCase == nil ? nil : self }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await GatewayScope.run(function)
    }
}

extension Trait where Self == StopsGateways {
    static var stopsGateways: Self { StopsGateways() }
}

/// The gateways started within one test.
final class GatewayScope: Sendable {
    @TaskLocal static var current: GatewayScope?
    private let gateways = Mutex<[TestGateway]>([])

    func add(_ gateway: TestGateway) { gateways.withLock { $0.append(gateway) } }

    /// Runs `body`, then stops every gateway it started, whether it returned or threw.
    static func run(_ body: @Sendable () async throws -> Void) async throws {
        let scope = GatewayScope()
        do {
            try await $current.withValue(scope) { try await body() }
        } catch {
            await scope.stopAll()
            throw error
        }
        await scope.stopAll()
    }

    private func stopAll() async {
        for gateway in gateways.withLock({ $0 }) { await gateway.stop() }
    }
}

@Suite("test gateway scope")
struct GatewayScopeTests {
    struct Failed: Error {}

    /// A test that fails half-way still leaves no server listening and no directory behind.
    @Test func aFailingTestStillStopsItsGateway() async throws {
        let started = Mutex<TestGateway?>(nil)
        await #expect(throws: Failed.self) {
            try await GatewayScope.run {
                let gw = try await TestGateway.start()
                started.withLock { $0 = gw }
                #expect(try await gw.request("GET", "/healthz").status == 200)
                throw Failed()
            }
        }
        let gw = try #require(started.withLock { $0 })
        #expect(gw.isStopped)
        #expect(!FileManager.default.fileExists(atPath: gw.dir.path))
        // Its listener is closed (not probed by port: a parallel test's gateway may have it now).
        #expect(gw.app.isDraining)
    }
}

extension Trait where Self == ConditionTrait {
    /// Suites that need a PostgreSQL server (`make test` starts a throwaway cluster).
    static var needsPostgres: Self {
        .enabled(if: PostgresTestDatabase.serverURL != nil, "needs REELGATE_TEST_DATABASE_URL (make test starts a cluster)")
    }
}
