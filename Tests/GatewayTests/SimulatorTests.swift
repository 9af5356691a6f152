import Domain
import Foundation
import Gateway
import TestSupport
import Testing

@Suite("simulator provider")
struct SimulatorTests {
    func job(format: String, aspect: String, seed: Int64 = 7) throws -> ProviderJob {
        let request = try VideoInferenceValidator(knownModels: nil).validate([
            "taskUUID": "0f8b7c3e-5a8d-4c3b-9f8e-2d1c0b9a8e7f", "model": "reelgate:simulator@1", "positivePrompt": "a test",
            "outputFormat": .string(format), "aspectRatio": .string(aspect),
        ]).get()
        return ProviderJob(taskUUID: request.taskUUID, request: request, upstreamModel: "simulator",
                           results: [(videoUUID: "a0a4d711-9215-4e68-a5ea-56da9b8658f0", seed: seed)], mediaOwner: .key("test"))
    }

    static let ffprobe = ["/usr/bin/ffprobe", "/usr/local/bin/ffprobe"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: ffprobe != nil, "ffprobe is not installed (make test installs ffmpeg)"),
          arguments: ["MP4", "WEBM", "MOV"], ["16:9", "9:16", "1:1"])
    func clipsArePlayableInEveryFormatAndAspect(format: String, aspect: String) async throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.file("out.\(format.lowercased())")
        try await SimulatorProvider(latency: 0, failureRate: 0).fetch(output: "clip", job: try job(format: format, aspect: aspect), to: path)
        let (status, output) = try await OffPool.run {  // a subprocess: not on the cooperative pool
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: Self.ffprobe!)
            probe.arguments = ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height:format=format_name",
                               "-of", "default=noprint_wrappers=1", path]
            let pipe = Pipe()
            probe.standardOutput = pipe
            try probe.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            probe.waitUntilExit()
            return (probe.terminationStatus, output)
        }
        #expect(status == 0, "ffprobe rejected the \(format) \(aspect) clip")
        let fields = Dictionary(output.split(separator: "\n").compactMap { line -> (String, String)? in
            let kv = line.split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        }, uniquingKeysWith: { a, _ in a })
        #expect(fields["codec_name"] == (format == "WEBM" ? "vp9" : "h264"))
        #expect(fields["format_name"]?.contains(format == "WEBM" ? "webm" : "mov") == true)
        let width = Int(fields["width"] ?? "") ?? 0, height = Int(fields["height"] ?? "") ?? 0
        switch aspect {
        case "16:9": #expect(width * 9 == height * 16)
        case "9:16": #expect(width * 16 == height * 9)
        default: #expect(width == height)
        }
    }

    @Test func outcomeIsDeterministicPerSeedAndFollowsTheFailureRate() async throws {
        let sim = SimulatorProvider(latency: 0, failureRate: 0.5)
        var failures = 0
        for seed in Int64(0)..<200 {
            let job = try job(format: "MP4", aspect: "16:9", seed: seed)
            let first = try await sim.poll(UpstreamJob(ids: ["sim:x:0"]), job: job)
            let again = try await sim.poll(UpstreamJob(ids: ["sim:x:0"]), job: job)
            #expect(first == again)
            if case .failed = first { failures += 1 }
        }
        #expect((60...140).contains(failures), "about half of 200 seeds fail at rate 0.5, got \(failures)")
    }

    @Test func progressRisesWithElapsedTime() async throws {
        let start = 1_000.0
        let clock = ClockBox(start)
        let sim = SimulatorProvider(latency: 10, failureRate: 0, clock: { clock.now })
        let job = try job(format: "MP4", aspect: "16:9")
        let id = try await sim.submit(job)
        clock.now = start + 2.5
        #expect(try await sim.poll(id, job: job) == .running(progress: 25))
        clock.now = start + 10
        guard case .succeeded(let outputs, _) = try await sim.poll(id, job: job) else {
            Issue.record("not finished")
            return
        }
        #expect(outputs.count == 1)
    }
}

