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
///
/// What every implementation must guarantee, whatever its isolation level (SQLite gets it from
/// its single writer; a server database needs row locks, `SKIP LOCKED` claims and unique
/// constraints used as such):
/// - `submit`: a taskUUID is stored once; a second submit of it is `duplicate` or `conflict`,
///   never an error or a second row, and a key's in-flight cap is never exceeded, even when
///   several submits race.
/// - `claim`/`claimDeliveries`: a task or delivery is held by one owner at a time; a claim, a
///   renewal and every write under a lease check the owner (and, for deliveries, the attempt
///   number) in the same statement that writes.
/// - Every event is one transaction with its log line and its side rows (deliveries, failed
///   results, the key's in-flight count).
/// - Times are seconds since 1970 on ``TaskRepository/now``; with several instances that clock
///   should be the database's, since leases are compared across instances.
/// - `releaseAllLeases` is for a single instance at start (the data-directory lock); with several
///   instances leases simply expire.
public protocol TaskStore: TaskRepository, DeliveryRepository, MediaRepository, ImageRepository, OpsReads, InstanceRepository,
    ConsoleSessionRepository {}
