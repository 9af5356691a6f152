import Domain
import Store

/// Checks on the job ids a create answer hands back, shared by the adapters that start one
/// upstream job per requested result (Gemini interactions, task-API tasks).
enum UpstreamJobList {
    /// Accepts one job id from a create answer; an empty one, or one that would break the list,
    /// is a retryable fault of that answer.
    static func jobID(_ id: String?, provider: String, noun: String) throws(ProviderError) -> String {
        guard let id, !id.isEmpty else {
            throw ProviderError.retryable("\(provider): create answered without \(noun)")
        }
        return id
    }
}
