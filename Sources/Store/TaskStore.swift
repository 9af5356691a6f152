import Domain

/// The store contract: everything the API, the workers and delivery keep durably, split by
/// aggregate. SQLite implements it today (`SQLiteStore`); a second backend implements the same
/// protocols and runs the same contract test suite (`Tests/StoreTests`).
///
/// Concurrency model: every method may be called from any task at any time; an `async` write
/// returns only once its change is durable (committed), so an ACK or a next step may rely on it.
/// The few synchronous methods are for start-up and the media budget, where blocking is fine.
/// State changes of a task go through ``TaskRepository/apply(_:to:owner:)`` and are refused
/// unless the task is in a state the ``TaskLifecycle`` allows the event from, and the caller
/// still holds its lease.
public protocol TaskStore: TaskRepository, DeliveryRepository, MediaRepository, ImageRepository, OpsReads, InstanceRepository {}
