import Domain
import Foundation
import S3
import Store

/// Fetching: the finished job's videos into the media store, then the deliveries.
extension WorkerPool {
    /// Fetches each result not yet stored: to a temporary file, fsynced, renamed into place (the
    /// directory fsynced too), then recorded (a crash between rename and record just fetches it
    /// again). The last is recorded with ``TaskEvent/resultsStored(deliveries:)``: an upload
    /// before the webhook for each result (SPEC §6), which the delivery worker takes from there. Returns what the lifecycle says
    /// follows (nothing when the task was retried or failed instead).
    func fetchAndStore(_ task: TaskRecord, job: ProviderJob, provider: any VideoProvider, outputs: [String], providerCost: Double?, owner: String,
                       log: Logger) async throws -> [TaskAction]
    {
        let request = job.request
        let ext = request.outputFormat.fileExtension
        let toFetch = zip(task.results, outputs).filter { $0.0.state == .pending }
        // The last video is recorded with the `resultsStored` step: one transaction, and one
        // wait fewer before its webhook.
        var last: ReadyVideo?
        for (index, (result, output)) in toFetch.enumerated() {
            let temporary = media.temporaryPath(videoUUID: result.videoUUID)
            let final = media.path(videoUUID: result.videoUUID, ext: ext)
            do {
                try await provider.fetch(output: output, job: job, to: temporary)
            } catch {
                try? FileManager.default.removeItem(atPath: temporary)
                if error.kind == .retryable {
                    try await handleProviderError(error, task: task, owner: owner, log: log)
                    return []
                }
                try await fail(task, owner: owner, code: error.code, message: error.message, log: log)
                return []
            }
            let bytes = fileSize(atPath: temporary) ?? 0
            let storedPath: String
            if let objects = media.objects {
                // Stored only once the object is complete in the bucket.
                let key = objects.key(file: "\(result.videoUUID).\(ext)")
                defer { try? FileManager.default.removeItem(atPath: temporary) }
                do {
                    try await objects.upload(file: temporary, key: key, contentType: request.outputFormat.contentType)
                } catch let error as S3Error {
                    log.error("storing a video in the object store failed", ["error": "\(error)"])
                    if error.isRetryable {
                        try await handleProviderError(.retryable("the object store did not take the video (HTTP \(error.status))"), task: task,
                                                      owner: owner, log: log)
                    } else {
                        try await fail(task, owner: owner, code: .internalError, message: "storing the video failed", log: log)
                    }
                    return []
                }
                storedPath = ObjectMedia.storedPath(key: key)
            } else {
                do {
                    try await DurableFile.publish(temporary, as: final)
                } catch {
                    log.error("storing a video failed", ["error": "\(error)", "path": final])
                    try? FileManager.default.removeItem(atPath: temporary)
                    try await fail(task, owner: owner, code: .internalError, message: "storing the video failed", log: log)
                    return []
                }
                storedPath = final
            }
            // The provider's own cost when it reports one (split over the results), else the price table.
            let cost = providerCost.map { $0 / Double(max(outputs.count, 1)) } ?? PriceTable.cost(model: task.model, seconds: request.duration)
            let video = ReadyVideo(
                videoUUID: result.videoUUID, media: StoredVideo(path: storedPath, bytes: bytes, expiresAt: store.now + Double(request.ttl), cost: cost))
            if index == toFetch.count - 1 {
                last = video
                continue
            }
            guard try await store.markResultReady(video.videoUUID, owner: owner, media: video.media) else {
                await removeUnrecorded(storedPath, videoUUID: result.videoUUID, task: task.uuid, log: log)
                throw LeaseLost(reason: "while storing a result")
            }
            if media.objects == nil { onStored(bytes) }  // the disk budget is the local store's
        }

        var deliveries: [NewDelivery] = []
        for result in task.results {
            if let url = request.uploadEndpoint {
                deliveries.append(NewDelivery(videoUUID: result.videoUUID, kind: .upload, url: url, messageID: "upload_\(result.videoUUID)"))
            }
            if let url = request.webhookURL {
                deliveries.append(NewDelivery(videoUUID: result.videoUUID, kind: .webhook, url: url, messageID: "msg_\(result.videoUUID)"))
            }
        }
        // Counted before the step commits: once the task reads as succeeded its bytes are in the
        // disk budget (a submit just after it must see the budget full), and given back if the
        // step does not happen.
        let counted = media.objects == nil ? last?.media.bytes ?? 0 : 0
        onStored(counted)
        let actions: [TaskAction]
        do {
            actions = try await record(.resultsStored(deliveries: deliveries), task, owner: owner, readying: last.map { [$0] } ?? [])
        } catch let lost as LeaseLost {
            if let last { await removeUnrecorded(last.media.path, videoUUID: last.videoUUID, task: task.uuid, log: log) }
            onStored(-counted)
            throw lost
        } catch {
            // The step failed otherwise (the database): the video is still recorded on its own
            // if it can be, so that a stored file is never left without its row.
            if let last, (try? await store.markResultReady(last.videoUUID, owner: owner, media: last.media)) == true {
                throw error
            }
            onStored(-counted)
            throw error
        }
        onFinished(task.uuid)
        metrics?.observe("reelgate_task_seconds", [("model", task.model), ("outcome", "succeeded")], store.now - task.createdAt)
        log.info(deliveries.isEmpty ? "succeeded" : "stored; delivering", ["results": "\(task.results.count)"])
        return actions
    }

    /// A video stored but refused by the store: the task ended meanwhile (cancelled, failed past
    /// its deadline), so nothing will ever record it and no sweep would find it; it goes now. If
    /// another worker took the task over instead, it writes the same name: that file is left.
    func removeUnrecorded(_ storedPath: String, videoUUID: String, task uuid: String, log: Logger) async {
        // Not cancelled with the work (a lost lease cancels it): the clean-up must still happen.
        let store = self.store, objects = media.objects
        await Task.detached {
            guard let now = try? await store.find(uuid), now.state.isTerminal,
                now.results.first(where: { $0.videoUUID == videoUUID })?.state != .ready
            else { return }
            if let key = ObjectMedia.key(ofStoredPath: storedPath) {
                do {
                    try await objects?.delete(key: key)
                } catch {
                    log.error("removing the object of a result its task no longer wants failed", ["key": key, "error": "\(error)"])
                    return
                }
            } else {
                unlink(storedPath)
            }
            log.info("removed a result stored after its task ended", ["result": videoUUID])
        }.value
    }
}
