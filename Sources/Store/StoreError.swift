/// What the store itself can get wrong, as opposed to its backend's errors.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// A stored value the code cannot read (a state it does not know): an error, never a guess.
    case undecodable(table: String, column: String, value: String)
    /// An event that has its own method (claim, cancel, record of the last delivery) was passed
    /// to ``TaskRepository/apply(_:to:owner:readying:)``.
    case notAWorkerEvent(String)
    /// A video recorded with a step was not for one of the task's pending results.
    case resultNotPending(video: String, task: String)
    /// A claim met a row it could not read and set it aside for good (`id`: the task's uuid, or a
    /// delivery's id): it is reported once, and its owner frees what it held in memory.
    indirect case quarantined(table: String, id: String, cause: StoreError)

    public var description: String {
        switch self {
        case .undecodable(let table, let column, let value): "undecodable \(table).\(column): \(value.prefix(64))"
        case .notAWorkerEvent(let event): "not a worker event: \(event)"
        case .resultNotPending(let video, let task): "result \(video) is not a pending result of task \(task)"
        case .quarantined(let table, let id, let cause): "set aside \(table) \(id): \(cause)"
        }
    }
}
