import Domain
import Store
import Synchronization

/// The rendered ops view (`GET /v1/tasks/<id>`) of finished tasks, kept with what it was rendered
/// from: ops and dashboards poll a finished task again and again, and rendering it (its stored
/// request parsed and redacted, links signed, the whole document serialised) cost more than the
/// rest of the request.
///
/// Never stale: an entry is used only when the task and its history read for this request, and
/// the public URL its links start with, are equal to those it was rendered from (a delivery
/// attempt, expiry or deletion changes the first two; the last is set once the listener is bound,
/// and a request can come just before). The caller keeps only views that depend on nothing
/// else: a local link carries its result's own expiry, not the time of the poll; presigned links
/// and inline outputs are not kept (``OpsRoutes``).
///
/// Bounded: views over ``largestViewBytes`` and tasks whose stored request is over
/// ``largestRequestBytes`` (inline images; comparing them on every poll would cost what the
/// cache saves) are not kept, and past the byte budget an arbitrary entry makes room.
final class FinishedTaskViews: Sendable {
    private struct Entry {
        let task: TaskRecord
        let history: TaskHistory
        let linkBase: String
        let bytes: [UInt8]
    }

    private let entries: Mutex<ByteBudgetMap<Entry>>
    static let largestViewBytes = 64 * 1024
    static let largestRequestBytes = 16 * 1024

    init(budgetBytes: Int = 8 * 1024 * 1024) { entries = Mutex(ByteBudgetMap(budgetBytes: budgetBytes)) }

    /// The view rendered from exactly this task, history and link base, if kept.
    func view(of task: TaskRecord, history: TaskHistory, linkBase: String) -> [UInt8]? {
        guard task.state.isTerminal, let entry = entries.withLock({ $0[task.uuid] }) else { return nil }
        return entry.linkBase == linkBase && entry.task == task && entry.history == history ? entry.bytes : nil
    }

    /// Keeps `bytes` as the view of a finished `task` with `history` and links under `linkBase`
    /// (replacing an older one).
    func keep(_ bytes: [UInt8], of task: TaskRecord, history: TaskHistory, linkBase: String) {
        guard task.state.isTerminal, bytes.count <= Self.largestViewBytes, task.requestJSON.utf8.count <= Self.largestRequestBytes else { return }
        let entry = Entry(task: task, history: history, linkBase: linkBase, bytes: bytes)
        // The view, the stored request it was rendered from, and a fixed amount for the rest.
        let size = bytes.count + task.requestJSON.utf8.count + 1024
        entries.withLock { $0.insert(entry, size: size, for: task.uuid) }
    }
}
