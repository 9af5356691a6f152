/// How much work a connection's cached statements did since it opened, as SQLite counts it
/// (`sqlite3_stmt_status`). A statement on a hot path whose work grows with a table's size costs
/// in proportion to every task ever taken: tests check that a task's life does no such work.
public struct StatementWork: Sendable, Equatable {
    /// Rows stepped through in full table scans.
    public var fullScanSteps = 0
    /// Virtual machine operations: an indexed lookup takes a few whatever the table's size; a
    /// scan of an index range (a query that fell back to a less selective index) takes some for
    /// every row in the range, so this catches what `fullScanSteps` does not.
    public var virtualMachineSteps = 0

    public init() {}

    public static func + (a: StatementWork, b: StatementWork) -> StatementWork {
        var sum = a
        sum.fullScanSteps += b.fullScanSteps
        sum.virtualMachineSteps += b.virtualMachineSteps
        return sum
    }

    public static func - (a: StatementWork, b: StatementWork) -> StatementWork {
        var difference = a
        difference.fullScanSteps -= b.fullScanSteps
        difference.virtualMachineSteps -= b.virtualMachineSteps
        return difference
    }
}
