import Domain
import Testing

/// The budget counts what is kept now: a replaced or removed entry gives its bytes back, and an
/// insert past the budget makes room first.
@Suite("Byte budget map")
struct ByteBudgetMapTests {
    @Test func replacingAndRemovingGiveBytesBackAndTheBudgetHolds() {
        var map = ByteBudgetMap<Int>(budgetBytes: 100)
        map.insert(1, size: 40, for: "a")
        map.insert(2, size: 50, for: "a")  // replaces: 50, not 90
        #expect(map.bytes == 50 && map["a"] == 2)
        map.insert(3, size: 40, for: "b")
        #expect(map.bytes == 90)
        map.insert(4, size: 30, for: "c")  // 120 would be over: one of a or b makes room
        #expect(map.bytes <= 100 && map["c"] == 4)
        #expect([map["a"], map["b"]].compactMap { $0 }.count == 1)
        map.remove("c")
        map.remove("missing")
        #expect(map["c"] == nil && map.bytes <= 50)
    }
}
