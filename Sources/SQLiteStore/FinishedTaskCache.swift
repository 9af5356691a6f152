import Domain
import Store
import Synchronization

/// Finished tasks read recently, kept decoded in memory: apps and ops poll a finished task again
/// and again (`getResponse`, `/v1/tasks/<id>`, the OpenAI retrieve), and each poll would otherwise
/// be a read transaction and thirty columns decoded for a row that no longer changes.
///
/// Sound only because this process is the only writer of its database (the data dir's lock) and a
/// finished task changes in exactly two ways, both through this store: its media is removed
/// (expiry, deletion) or it is marked deleted (the OpenAI API). Both evict it after their commit.
/// A reader that loaded a task before such a commit cannot put the stale copy back: it notes the
/// generation before it reads and inserts only if no eviction happened since.
///
/// Bounded: a task whose stored request is large (inline images) is not kept, and past the byte
/// budget an arbitrary entry makes room.
final class FinishedTaskCache: Sendable {
    private struct State {
        var entries: ByteBudgetMap<TaskRecord>
        var generation: UInt64 = 0
    }

    private let state: Mutex<State>
    static let largestTaskBytes = 16 * 1024

    init(budgetBytes: Int = 8 * 1024 * 1024) { state = Mutex(State(entries: ByteBudgetMap(budgetBytes: budgetBytes))) }

    /// Taken before a read whose result may be inserted.
    var generation: UInt64 { state.withLock { $0.generation } }

    func get(_ uuid: String) -> TaskRecord? { state.withLock { $0.entries[uuid] } }

    /// Keeps `task` if it is finished and small, and nothing was evicted since `generation`.
    func insert(_ task: TaskRecord, readAt generation: UInt64) {
        guard task.state.isTerminal else { return }
        let size = Self.size(of: task)
        guard size <= Self.largestTaskBytes else { return }
        state.withLock { state in
            guard state.generation == generation, state.entries[task.uuid] == nil else { return }
            state.entries.insert(task, size: size, for: task.uuid)
        }
    }

    /// After a committed change to a finished task: the next read goes to the database.
    func evict(_ uuid: String) {
        state.withLock { state in
            state.generation &+= 1
            state.entries.remove(uuid)
        }
    }

    /// Every text the record holds (an upstream's error message can be long, and is kept on the
    /// task and on each failed result), plus a fixed amount per record and result.
    static func size(of task: TaskRecord) -> Int {
        let texts = [task.requestJSON, task.openAI, task.errorMessage, task.errorCode, task.upstreamID, task.provider, task.model, task.apiKeyName]
        let results = task.results.reduce(0) { sum, result in
            sum + 256 + [result.errorMessage, result.errorCode, result.mediaPath, result.videoUUID, result.format].reduce(0) { $0 + ($1?.utf8.count ?? 0) }
        }
        return 256 + texts.reduce(0) { $0 + ($1?.utf8.count ?? 0) } + results
    }
}
