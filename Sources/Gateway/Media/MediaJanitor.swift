import Foundation
import Store
import Synchronization

/// Keeps stored media within its lifetime and the disk budget (SPEC §5).
///
/// Expired media is deleted by a periodic sweep; when the budget is reached, expired media is
/// evicted oldest first, and if that is not enough new work is refused (507) rather than filling
/// the disk under tasks already accepted.
public final class MediaJanitor: Sendable {
    let store: any TaskStore
    let maxBytes: Int64
    let logger: Logger
    /// The bucket, with an s3 media store: expired objects are deleted there.
    let objects: ObjectMedia?
    private let usage: Mutex<Int64>

    init(store: any TaskStore, maxBytes: Int64, logger: Logger, objects: ObjectMedia? = nil) throws {
        self.store = store
        self.maxBytes = maxBytes
        self.logger = logger
        self.objects = objects
        usage = Mutex(try store.mediaBytesInUse())
    }

    public var bytesInUse: Int64 { usage.withLock { $0 } }

    func stored(bytes: Int64) { usage.withLock { $0 += bytes } }

    /// Deletes media whose URLs expired before `now`, and uploaded images past their lifetime,
    /// in pages of `limit` (at most `maxPages` of each per sweep); returns how many files went.
    /// What cannot be deleted now (an unreachable bucket) is passed over, not retried first on
    /// every sweep: however many there are, the rest still go.
    @discardableResult
    public func sweep(now: Double, limit: Int = 1000, maxPages: Int = 10) async throws -> Int {
        let media = try await sweepPages(limit: limit, maxPages: maxPages) { try await store.expiredMedia(before: now, limit: limit, skipping: $0) }
            forget: { try await store.mediaRemoved($0) }
        let images = try await sweepPages(limit: limit, maxPages: maxPages) { try await store.expiredImages(before: now, limit: limit, skipping: $0) }
            forget: { try await store.imageRemoved($0) }
        if media + images > 0 { logger.info("media swept", ["files": "\(media)", "images": "\(images)"]) }
        return media + images
    }

    /// Deletes the files of pages of `fetch` (given how many to skip: those that could not be
    /// deleted) and has the store `forget` each; returns how many went.
    private func sweepPages(limit: Int, maxPages: Int, _ fetch: (Int) async throws -> [StoredFile],
                            forget: (String) async throws -> Bool) async throws -> Int {
        var removed = 0, skipped = 0
        for _ in 0..<maxPages {
            let page = try await fetch(skipped)
            for item in page {
                guard await delete(item.path) else { skipped += 1; continue }
                if try await forget(item.id) { released(item.path, bytes: item.bytes) }
                removed += 1
            }
            if page.count < limit { break }
        }
        return removed
    }

    /// Deletes a result's media now rather than at its expiry (the OpenAI API's `DELETE`); false
    /// when the file or object could not be deleted (it stays recorded, and is swept later).
    func removeNow(videoUUID: String, path: String, bytes: Int64) async -> Bool {
        guard await delete(path) else { return false }
        do {
            // Counted free once, by whichever removal (this, a sweep, a concurrent delete) forgot it.
            if try await store.mediaRemoved(videoUUID) { released(path, bytes: bytes) }
            return true
        } catch {
            logger.error("recording deleted media failed", ["result": videoUUID, "error": "\(error)"])
            return false
        }
    }

    /// Deletes an uploaded image now (one stored for a task that was then refused), as a sweep
    /// would at its expiry.
    func removeNow(image: UploadedImage) async {
        guard await delete(image.path) else { return }
        if (try? await store.imageRemoved(image.uuid)) == true { released(image.path, bytes: Int64(image.bytes)) }
    }

    /// Deletes a stored file or object; false when it could not be (the store refused or did not
    /// answer, or an object and no object store configured here): it stays recorded, is tried
    /// again on the next sweep, and does not stop this one from going on to the rest.
    private func delete(_ path: String) async -> Bool {
        do {
            guard let key = ObjectMedia.key(ofStoredPath: path) else {
                try await Self.delete(path)
                return true
            }
            guard let objects else {
                logger.error("expired media is in an object store this gateway is not configured for", ["path": path])
                return false
            }
            try await objects.delete(key: key)
            return true  // the disk budget is the local store's
        } catch {
            logger.error("deleting expired media failed; it is tried again on the next sweep", ["path": path, "error": "\(error)"])
            return false
        }
    }

    /// A removed file's bytes back in the budget (the disk budget is the local store's).
    private func released(_ path: String, bytes: Int64) {
        guard ObjectMedia.key(ofStoredPath: path) == nil else { return }
        usage.withLock { $0 = max(0, $0 - bytes) }
    }

    private static func delete(_ path: String) async throws {
        try await BlockingIO.run {
            if unlink(path) != 0, errno != ENOENT { throw CocoaError(.fileWriteUnknown) }
        }
    }

    /// Takes `bytes` of the budget for a file about to be written (an uploaded image), if they
    /// fit, after evicting expired media if needed. Checked and taken at once, so concurrent
    /// uploads cannot all pass a check and then overshoot together.
    func reserve(bytes: Int64, now: Double) async -> Bool {
        func take() -> Bool {
            usage.withLock { used in
                guard used + bytes <= maxBytes else { return false }
                used += bytes
                return true
            }
        }
        if take() { return true }
        _ = try? await sweep(now: now)
        return take()
    }

    /// Gives back a reservation whose file was never stored.
    func release(bytes: Int64) { usage.withLock { $0 = max(0, $0 - bytes) } }

    /// Whether new work may be accepted: under budget, after evicting expired media if needed.
    public func admit(now: Double) async -> Bool {
        if bytesInUse < maxBytes { return true }
        _ = try? await sweep(now: now)
        return bytesInUse < maxBytes
    }

    /// Sweeps every `interval` seconds until cancelled. With an s3 store it first aborts the
    /// multipart uploads a crash left: at once every one when `alone` (no other instance can be
    /// uploading: the data-dir lock, a SQLite store; and this one cannot have begun one yet,
    /// which takes a fetch of more than a part's size first), and on every sweep those begun
    /// more than ``staleUploadSeconds`` ago (with a shared database another instance may be
    /// uploading now).
    /// `wait` is the pause between sweeps (tests end it on cue).
    func run(interval: Double, alone: Bool, wait: @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }) async {
        if alone { await abortStaleUploads(before: nil) }
        while true {
            // Cancelled (shutdown): stop here. A sweep after it would run beside the shutdown,
            // on a store and a data directory that may be going away.
            do { try await wait(interval) } catch { return }
            let now = Date().timeIntervalSince1970
            await abortStaleUploads(before: now - Self.staleUploadSeconds)
            do {
                try await sweep(now: now)
            } catch {
                logger.error("media sweep failed", ["error": "\(error)"])
            }
        }
    }

    /// How old an unfinished multipart upload must be before any instance takes it for a crash's.
    static let staleUploadSeconds: Double = 6 * 3600

    func abortStaleUploads(before cutoff: Double?) async {
        guard let objects else { return }
        do {
            let aborted = try await objects.abortUploads(initiatedBefore: cutoff)
            if aborted > 0 { logger.info("aborted multipart uploads a crash left", ["uploads": "\(aborted)"]) }
        } catch {
            logger.error("listing unfinished multipart uploads failed", ["error": "\(error)"])
        }
    }
}
