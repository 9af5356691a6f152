import Domain
import Store

/// The upstream id of an adapter that starts one upstream job per requested result (Gemini
/// interactions, task-API tasks): the job ids in result order, comma-separated. One place owns
/// the encoding, because the worker reads it back too (the interaction behind one result).
enum UpstreamJobList {
    /// Accepts one job id from a create answer; an empty one, or one that would break the list,
    /// is a retryable fault of that answer.
    static func jobID(_ id: String?, provider: String, noun: String) throws(ProviderError) -> String {
        guard let id, !id.isEmpty, !id.contains(",") else {
            throw ProviderError.retryable("\(provider): create answered without \(noun)")
        }
        return id
    }

    static func joined(_ ids: [String]) -> String { ids.joined(separator: ",") }

    static func ids(_ upstreamID: String) -> [String] { upstreamID.split(separator: ",").map(String.init) }
}
