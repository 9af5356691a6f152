import Crypto
import Curl
import Domain
import Store
import Foundation
import S3
import Synchronization

/// Delivers results (SPEC §6): a presigned PUT of the video, then a signed webhook.
///
/// Deliveries are rows in the store, claimed under a lease, so they survive `kill -9`: one in
/// flight at a crash is attempted again (at-least-once; receivers dedupe on `webhook-id`, which
/// is stable per result). Every attempt re-checks the URL against SPEC §7 and pins the
/// connection to the address it checked, so DNS cannot be switched after the check.
///
/// One dispatcher claims what the ``DeliveryQuota`` has room for and runs each attempt as a
/// child task on the delivery transfer threads (upstream calls have threads of their own). An
/// attempt renews its lease while it runs, so however long an upload takes, it is never
/// claimed a second time while the first is still open.
public final class DeliveryWorker: Sendable {
    public struct Settings: Sendable {
        /// Attempts in flight at once, and per key and per target host.
        public var concurrency = 32
        public var maxPerKey = 16
        public var maxPerHost = 16
        public var leaseSeconds = 30.0
        /// An upload may take this plus its size at `uploadMinBytesPerSecond`.
        public var uploadTimeoutSeconds = 60.0
        public var uploadMinBytesPerSecond = 256 * 1024
        /// Waits before each retry after the first attempt (default 1 s, 2 s, 4 s).
        public var retrySchedule: [Double] = [1, 2, 4]
        public var webhookTimeout = 10.0
        public var idlePollSeconds = 0.25
        /// Where webhook bodies that carry an inline video are written before they are sent.
        public var spoolDirectory = "/tmp"
        public init() {}
    }

    let store: any TaskStore
    let media: MediaStore
    let urlGuard: URLGuard
    let curl: CurlClient
    let signer: WebhookSigner?
    let settings: Settings
    let logger: Logger
    let metrics: Metrics?
    let wake = WakeSignal()
    let owner = "delivery-\(getpid())-\(UUID().uuidString.prefix(8))"
    private let quota: Mutex<DeliveryQuota>
    static let userAgent = "reelgate/\(Application.version)"

    init(store: any TaskStore, media: MediaStore, urlGuard: URLGuard, curl: CurlClient, signer: WebhookSigner?, settings: Settings, logger: Logger,
         metrics: Metrics? = nil) {
        self.metrics = metrics
        self.store = store
        self.media = media
        self.urlGuard = urlGuard
        self.curl = curl
        self.signer = signer
        self.settings = settings
        self.logger = logger
        quota = Mutex(DeliveryQuota(total: settings.concurrency, perKey: settings.maxPerKey, perHost: settings.maxPerHost))
    }

    public func notifyNewWork() { wake.signal() }

    /// Claims and attempts deliveries until the surrounding task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let snapshot = quota.withLock { $0 }
                guard snapshot.free > 0 else {
                    await wake.wait(timeout: settings.idlePollSeconds)
                    continue
                }
                let claimed: [DeliveryRecord]
                do {
                    claimed = try await store.claimDeliveries(owner: owner, leaseSeconds: settings.leaseSeconds, quota: snapshot)
                } catch {
                    logger.error("claiming deliveries failed", ["error": "\(error)"])
                    claimed = []
                }
                guard !claimed.isEmpty else {
                    await wake.wait(timeout: settings.idlePollSeconds)
                    continue
                }
                for delivery in claimed {
                    // Only this loop takes slots (attempts give them back), so what the store
                    // chose against the snapshot still fits.
                    quota.withLock { _ = $0.take(key: delivery.apiKeyName, host: delivery.targetHost) }
                    group.addTask {
                        // The slot is the receiver's: free once the transfer is over, so the next
                        // claim need not wait for this attempt's record to commit (the delivery
                        // stays leased, its heartbeat running, until then: nobody else claims it).
                        let slot = Once { [self] in
                            quota.withLock { $0.give(key: delivery.apiKeyName, host: delivery.targetHost) }
                            wake.signal()
                        }
                        await self.attempt(delivery, transferred: slot.run)
                        slot.run()
                        if delivery.kind == .upload { self.wake.signal() }  // its webhook may be due now
                    }
                }
            }
        }
    }

    /// The wait before the next attempt after `attempts` failures, or nil when they are spent.
    public static func nextDelay(afterAttempts attempts: Int, schedule: [Double]) -> Double? {
        attempts >= 1 && attempts <= schedule.count ? schedule[attempts - 1] : nil
    }

    /// One attempt, under its lease from the claim to the record: the heartbeat runs through the
    /// URL check, the spooling of a large body, the transfer and the record. If the lease is lost
    /// (the claim lapsed and was taken again), or the worker is stopping, nothing is recorded.
    private func attempt(_ delivery: DeliveryRecord, transferred: @escaping @Sendable () -> Void) async {
        let (store, owner, lease) = (self.store, self.owner, settings.leaseSeconds)
        let started = Date().timeIntervalSince1970
        do {
            try await withLeaseHeartbeat(every: .seconds(lease / 3), renew: {
                try await store.renewDeliveryLease(delivery, owner: owner, leaseSeconds: lease)
            }) { [self] in
                let (attempt, outcome) = await transfer(delivery, started: started)
                transferred()
                if Task.isCancelled { return }
                await record(delivery, attempt, outcome)
            }
        } catch let lost as LeaseLost {
            logger.warning("delivery attempt abandoned", ["task": delivery.taskUUID, "error": lost.description])
        } catch {
            // cancelled (shutting down): the lease lapses and the next start attempts it again
        }
    }

    /// Records an attempt, if its claim still holds.
    private func record(_ delivery: DeliveryRecord, _ record: DeliveryAttempt, _ outcome: DeliveryOutcome) async {
        let log = logger.with(["task": delivery.taskUUID, "result": delivery.videoUUID ?? "-", "delivery": delivery.kind.rawValue])
        let started = record.at
        do {
            guard try await store.recordAttempt(delivery, owner: self.owner, attempt: record, outcome: outcome) else {
                log.warning("delivery attempt not recorded: its lease was taken meanwhile")
                return
            }
        } catch {
            log.error("recording a delivery attempt failed", ["error": "\(error)"])
        }
        let outcomeName = switch outcome {
        case .delivered: "delivered"
        case .retry: "retry"
        case .failed: "failed"
        }
        metrics?.increment("reelgate_deliveries_total", [("kind", delivery.kind.rawValue), ("outcome", outcomeName)])
        switch outcome {
        case .delivered: log.info("delivered", ["attempt": "\(delivery.attempts)", "status": "\(record.statusCode ?? 0)"])
        case .retry(let at): log.warning("delivery attempt failed; will retry", ["error": record.error ?? "", "in": String(format: "%.1f", at - started)])
        case .failed(let reason): log.warning("delivery failed", ["error": reason])
        }
    }

    /// Checks the URL, builds the request and sends it; every failure becomes an outcome.
    private func transfer(_ delivery: DeliveryRecord, started: Double) async -> (DeliveryAttempt, DeliveryOutcome) {
        var record = DeliveryAttempt(at: started, targetHost: "", statusCode: nil, latencyMilliseconds: 0, error: nil)
        let outcome: DeliveryOutcome
        var spool: String?
        defer { if let spool { unlink(spool) } }
        do {
            let checked = try await urlGuard.check(delivery.url)
            record.targetHost = checked.host
            let request: CurlRequest
            (request, spool) = try await makeRequest(delivery, checked: checked)
            let response = try await curl.perform(request)
            record.statusCode = response.status
            switch response.status {
            case 200..<300:
                outcome = .delivered
            case 410 where delivery.kind == .webhook:
                record.error = "410 Gone: the receiver asked to stop"
                outcome = .failed(record.error!)
            default:
                record.error = (300..<400).contains(response.status) ? "redirect \(response.status) is not followed" : "HTTP \(response.status)"
                outcome = retryOrGiveUp(delivery, reason: record.error!)
            }
        } catch let refusal as URLRefusal {
            record.error = "refused: \(refusal.reason)"
            outcome = .failed(record.error!)
        } catch let failure as DeliveryFailure {
            record.error = failure.reason
            outcome = .failed(failure.reason)
        } catch let error as CurlError {
            record.error = "\(error.kind.rawValue): \(error.message)"
            outcome = retryOrGiveUp(delivery, reason: record.error!)
        } catch {
            record.error = "\(error)"
            outcome = retryOrGiveUp(delivery, reason: record.error!)
        }
        record.latencyMilliseconds = (Date().timeIntervalSince1970 - started) * 1000
        return (record, outcome)
    }

    private func retryOrGiveUp(_ delivery: DeliveryRecord, reason: String) -> DeliveryOutcome {
        if delivery.kind == .upload, PresignedURL.isExpired(delivery.url, now: store.now) {
            return .failed("\(reason); the presigned URL has expired")
        }
        guard let delay = Self.nextDelay(afterAttempts: delivery.attempts, schedule: settings.retrySchedule) else {
            return .failed("\(reason); gave up after \(delivery.attempts) attempts")
        }
        // This instance wakes for the retry at its time; the idle poll is only the fallback.
        let wake = self.wake
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { wake.signal() }
        return .retry(at: store.now + delay)
    }

    struct DeliveryFailure: Error { let reason: String }

    /// The object store did not answer: an attempt that is retried, never a final failure.
    struct MediaStoreUnavailable: Error, CustomStringConvertible {
        var description: String { "the media store is unavailable" }
    }

    /// The request for one attempt, and the file its body was spooled to, if it was (a webhook
    /// with an inline video), for the caller to remove.
    private func makeRequest(_ delivery: DeliveryRecord, checked: CheckedURL) async throws -> (CurlRequest, spool: String?) {
        guard let task = try await store.find(delivery.taskUUID) else { throw DeliveryFailure(reason: "the task no longer exists") }
        switch delivery.kind {
        case .upload:
            if PresignedURL.isExpired(delivery.url, now: store.now) { throw DeliveryFailure(reason: "the presigned URL has expired") }
            guard let result = task.results.first(where: { $0.videoUUID == delivery.videoUUID }), let stored = result.mediaPath else {
                throw DeliveryFailure(reason: "the video is no longer stored")
            }
            // From the bucket, the video is staged in the spool first (and removed after).
            let path: String, staged: String?
            do {
                let copy = try await media.localCopy(ofStoredPath: stored, scratch: settings.spoolDirectory)
                (path, staged) = (copy.path, copy.temporary ? copy.path : nil)
            } catch let error as S3Error where error.kind == .notFound {
                throw DeliveryFailure(reason: "the video is no longer stored")
            } catch {
                throw MediaStoreUnavailable()  // retried on the delivery's schedule
            }
            let contentType = VideoInferenceRequest.OutputFormat(rawValue: result.format)?.contentType ?? "video/mp4"
            // A total limit that grows with the size: a receiver reading a byte a second cannot
            // hold a delivery slot for a day.
            var info = stat()
            let bytes = stat(path, &info) == 0 ? Double(info.st_size) : 0
            let total = settings.uploadTimeoutSeconds + bytes / Double(max(settings.uploadMinBytesPerSecond, 1))
            return (CurlRequest(
                method: "PUT", url: delivery.url, headers: [("Content-Type", contentType), ("User-Agent", Self.userAgent)],
                body: .file(path: path), sink: .memory(maxBytes: 64 * 1024), connectTimeout: .seconds(10), totalTimeout: .seconds(total),
                lowSpeed: (1024, 30), pinnedAddress: checked.address.description), staged)
        case .webhook:
            // webhook-id and webhook-timestamp always go out, so receivers can dedupe even unsigned;
            // webhook-signature is added when a secret is configured.
            let timestamp = Int64(Date().timeIntervalSince1970)
            let mac = signer?.start(id: delivery.messageID, timestamp: timestamp)
            let reply = try await webhookReply(task, videoUUID: delivery.videoUUID)
            let body: CurlRequest.Body
            var spool: String?
            if case .bytes(let bytes) = reply.httpBody {
                mac?.update(bytes)
                body = .bytes(bytes)
            } else {
                // An inline video: the body goes to a file, signed as it is written, and is
                // streamed from there; it is never in memory whole.
                let path = "\(settings.spoolDirectory)/webhook-\(delivery.id)-\(UUID().uuidString)"
                try await BlockingIO.run { try Self.spool(reply, to: path, mac: mac) }
                spool = path
                body = .file(path: path)
            }
            var headers: [(name: String, value: String)] = [
                ("Content-Type", "application/json"), ("User-Agent", Self.userAgent),
                ("webhook-id", delivery.messageID), ("webhook-timestamp", String(timestamp)),
            ]
            if let mac { headers.append(("webhook-signature", WebhookSigner.header(mac.finalize()))) }
            // A body carrying a video gets the time its size needs, as an upload does.
            let total = settings.webhookTimeout + Double(reply.length) / Double(max(settings.uploadMinBytesPerSecond, 1))
            return (CurlRequest(
                method: "POST", url: delivery.url, headers: headers, body: body, sink: .memory(maxBytes: 64 * 1024),
                connectTimeout: .seconds(min(settings.webhookTimeout, 10)), totalTimeout: .seconds(spool == nil ? settings.webhookTimeout : total),
                pinnedAddress: checked.address.description), spool)
        }
    }

    /// `{"data":[<getResponse item>]}` for a result, `{"errors":[…]}` for a failed task.
    private func webhookReply(_ task: TaskRecord, videoUUID: String?) async throws -> ReplyBody {
        guard let videoUUID else {
            let error: JSONValue = ["code": .string(task.errorCode ?? "providerError"), "message": .string(task.errorMessage ?? "the task failed"),
                                    "taskType": "videoInference", "taskUUID": .string(task.uuid)]
            return ReplyBody(data: [], errors: [error])
        }
        // A store that does not answer fails the attempt (retried), not the video.
        let item = try await ResultItems.staged(
            ResultItems.items(for: task, media: media).filter { $0.fields["videoUUID"]?.string == videoUUID }, media: media,
            throwingWhenUnavailable: true
        ).first
        return ReplyBody(data: item.map { [$0] } ?? [], errors: [])
    }

    /// Writes `reply` to `path` piece by piece, feeding `mac` as it goes.
    private static func spool(_ reply: ReplyBody, to path: String, mac: IncrementalHMAC?) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DeliveryFailure(reason: "cannot write the webhook body (errno \(errno))") }
        defer { close(fd) }
        let source = ReplyBodySource(segments: reply.segments)
        defer { source.close() }
        var remaining = reply.length
        var piece: [UInt8] = []
        while remaining > 0 {
            piece.removeAll(keepingCapacity: true)
            try source.next(into: &piece, maxBytes: Int(min(remaining, 256 << 10)))
            guard !piece.isEmpty else { throw DeliveryFailure(reason: "the webhook body ended early") }
            mac?.update(piece)
            guard piece.withUnsafeBytes({ writeAll(fd, $0) }) else { throw DeliveryFailure(reason: "cannot write the webhook body (errno \(errno))") }
            remaining -= Int64(piece.count)
        }
    }
}

/// Runs its action once, however many times it is asked to: a delivery's slot is given back
/// when its transfer ends, or at the latest when the attempt ends.
private final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    private let action: @Sendable () -> Void
    init(_ action: @escaping @Sendable () -> Void) { self.action = action }
    @Sendable func run() { if !done.exchange(true, ordering: .relaxed) { action() } }
}
