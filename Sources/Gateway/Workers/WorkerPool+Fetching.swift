import Domain
import Foundation
import Store

/// Fetching: the finished job's videos into the media store, then the deliveries.
extension WorkerPool {
    /// Fetches each result not yet stored: to a temporary file, fsynced, renamed into place, then
    /// recorded (a crash between rename and record just fetches it again). Then records
    /// ``TaskEvent/resultsStored(deliveries:)``: an upload before the webhook for each result
    /// (SPEC §6), which the delivery worker takes from there. Returns what the lifecycle says
    /// follows (nothing when the task was retried or failed instead).
    func fetchAndStore(_ task: TaskRecord, job: ProviderJob, provider: any VideoProvider, outputs: [String], providerCost: Double?, owner: String,
                       log: Logger) async throws -> [TaskAction]
    {
        let request = job.request
        let ext = request.outputFormat.fileExtension
        for (result, output) in zip(task.results, outputs) where result.state == .pending {
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
            guard rename(temporary, final) == 0 else {
                log.error("storing a video failed", ["errno": "\(errno)", "path": final])
                try await fail(task, owner: owner, code: .internalError, message: "storing the video failed", log: log)
                return []
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: final)[.size] as? Int64) ?? 0
            // The provider's own cost when it reports one (split over the results), else the price table.
            let cost = providerCost.map { $0 / Double(max(outputs.count, 1)) } ?? PriceTable.cost(model: task.model, seconds: request.duration)
            guard try await store.markResultReady(
                result.videoUUID, owner: owner, media: StoredVideo(path: final, bytes: bytes, expiresAt: store.now + Double(request.ttl), cost: cost))
            else { throw LeaseLost(reason: "while storing a result") }
            onStored(bytes)
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
        let actions = try await record(.resultsStored(deliveries: deliveries), task, owner: owner)
        onFinished(task.uuid)
        metrics?.observe("reelgate_task_seconds", [("model", task.model), ("outcome", "succeeded")], store.now - task.createdAt)
        log.info(deliveries.isEmpty ? "succeeded" : "stored; delivering", ["results": "\(task.results.count)"])
        return actions
    }
}
