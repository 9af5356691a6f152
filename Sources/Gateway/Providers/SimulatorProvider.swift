import Domain
import Store
import Foundation
import Synchronization

/// The built-in provider (SPEC §8.1): no network, yet it walks every state with real clips.
///
/// Deterministic per seed: whether a job fails depends only on its first result's seed and the
/// configured failure rate. Stateless: the upstream id carries the submit time, so a restarted
/// gateway polls the same job to the same outcome.
public struct SimulatorProvider: VideoProvider {
    public let name = "simulator"
    public let latency: Double
    public let failureRate: Double
    public let clock: @Sendable () -> Double
    public var pollInterval: Double { min(max(latency / 10, 0.05), 5) }

    public init(latency: Double, failureRate: Double, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.latency = latency
        self.failureRate = failureRate
        self.clock = clock
    }

    public func submit(_ job: ProviderJob) async throws(ProviderError) -> UpstreamJob {
        if job.request.positivePrompt.contains("[simulate:unsafe]") {
            throw ProviderError(kind: .permanent, code: .contentPolicyViolation, message: "the prompt was blocked by the simulated safety filter")
        }
        return UpstreamJob(ids: ["sim:\(job.taskUUID):\(Int64(clock() * 1000))"])
    }

    public func poll(_ upstream: UpstreamJob, job: ProviderJob) async throws(ProviderError) -> ProviderStatus {
        guard let millis = upstream.ids.first?.split(separator: ":").last.flatMap({ Int64($0) }) else {
            throw ProviderError(kind: .permanent, code: .providerError, message: "unknown simulator job \(upstream.displayID)")
        }
        let elapsed = clock() - Double(millis) / 1000
        if elapsed < latency {
            return .running(progress: min(99, Int(elapsed / max(latency, 0.001) * 100)))
        }
        if fails(seed: job.results.first?.seed ?? 0) {
            return .failed(ProviderError(kind: .permanent, code: .providerError, message: "simulated generation failure"))
        }
        return .succeeded(outputs: job.results.map { "clip:\($0.videoUUID)" }, cost: nil)
    }

    public func fetch(output reference: String, job: ProviderJob, to path: String) async throws(ProviderError) {
        let format = job.request.outputFormat.fileExtension
        let aspect = job.request.effectiveAspectRatio.replacingOccurrences(of: ":", with: "x")
        guard let source = Self.clipPath("clip-\(aspect)", ext: format) else {
            throw ProviderError(kind: .permanent, code: .providerError, message: "simulator clip clip-\(aspect).\(format) is missing")
        }
        do {
            try await BlockingIO.run {
                let clip = try FileCopier.privateCopy(of: source, in: (path as NSString).deletingLastPathComponent)
                try FileCopier.place(clip, at: path)
            }
        } catch {
            throw ProviderError(kind: .retryable, code: .providerError, message: "copying the clip failed: \(error)")
        }
    }

    public func cancel(_ upstream: UpstreamJob) async {}

    /// The bundled clips' paths, each looked up once: a `Bundle` lookup builds and compares
    /// paths on every call, a cost every simulated result paid.
    private static let clipPaths = Mutex<[String: String]>([:])

    static func clipPath(_ name: String, ext: String) -> String? {
        let key = "\(name).\(ext)"
        if let path = clipPaths.withLock({ $0[key] }) { return path }
        guard let path = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "clips")?.path else { return nil }
        clipPaths.withLock { $0[key] = path }
        return path
    }

    /// A stable fraction in [0, 1) from the seed (SplitMix64).
    func fails(seed: Int64) -> Bool {
        guard failureRate > 0 else { return false }
        var z = UInt64(bitPattern: seed) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) < failureRate
    }
}

/// Puts a clip at a result's temporary path. A clip never changes, and the media store only
/// reads, renames and removes its files, so a hard link to the clip's private copy serves: no
/// bytes copied and no new inode (creating one is most of a result's cost on ext4 without a
/// journal, which scans past every recently deleted inode). Where a link is refused (another file system, another owner under
/// `protected_hardlinks`, too many links) the clip is copied and fsynced: media is durable
/// before its row says "ready".
enum FileCopier {
    static func place(_ source: String, at destination: String) throws {
        unlink(destination)  // what an earlier attempt left
        if link(source, destination) == 0 { return }
        guard [EXDEV, EPERM, EACCES, EMLINK, EOPNOTSUPP].contains(errno) else { throw CocoaError(.fileWriteUnknown) }
        try copy(from: source, to: destination)
    }

    /// The clip's own copy beside the results (made once, private like every media file), which
    /// results are linked to: a link to the bundled file itself would share the install's file,
    /// its owner and its mode, with the data directory.
    static func privateCopy(of source: String, in directory: String) throws -> String {
        let copy = "\(directory)/.simulator-\((source as NSString).lastPathComponent)"
        if access(copy, F_OK) == 0 { return copy }
        let temporary = "\(copy).\(uniqueSuffix()).partial"  // what a crash leaves, start-up removes
        do {
            try self.copy(from: source, to: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, copy) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown)
        }
        return copy
    }

    static func copy(from source: String, to destination: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw CocoaError(.fileReadNoSuchFile) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw CocoaError(.fileWriteNoPermission) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = read(input, &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw CocoaError(.fileReadUnknown) }
            if n == 0 { break }
            guard buffer.withUnsafeBytes({ writeAll(output, UnsafeRawBufferPointer(rebasing: $0[..<n])) }) else { throw CocoaError(.fileWriteOutOfSpace) }
        }
        guard fsync(output) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}

extension SimulatorProvider {
    /// Always there: `reelgate:simulator@1`, and Omni Flash when no upstream is configured.
    static let registration = ProviderRegistration(settings: SimulatorSettings.self) { context in
        let settings = context.configuration.providers.simulator
        return [ProviderEntry(SimulatorProvider(latency: settings.latencySeconds, failureRate: settings.failureRate), limits: settings.limits)]
    }
}
