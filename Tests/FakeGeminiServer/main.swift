import Foundation
import TestSupport

// Runs the fake Gemini server on its own, so the official google-genai SDK can be pointed at it
// (Tests/conformance/test_google_genai.py): the fake cannot drift from the real protocol.
//   fake-gemini [--delivery inline|uri] [--flat] [--polls N] [--video-bytes N]   prints "listening on http://127.0.0.1:PORT"
// A line "stats" on stdin prints one JSON line: the most interactions in progress at once, and
// every create's body (the several-instances test counts creates per task from the prompts).
var settings = FakeGemini.Settings()
let args = CommandLine.arguments
if let i = args.firstIndex(of: "--delivery"), i + 1 < args.count { settings.delivery = args[i + 1] }
if args.contains("--flat") { settings.flatOutputs = true }
if let i = args.firstIndex(of: "--polls"), i + 1 < args.count, let n = Int(args[i + 1]) { settings.pollsBeforeDone = n }
// --video-bytes N: the size of the video every interaction returns (a large one for multipart tests).
let videoBytes = args.firstIndex(of: "--video-bytes").flatMap { $0 + 1 < args.count ? Int(args[$0 + 1]) : nil } ?? 150_000
let video = (0..<videoBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
let fake = try FakeGemini(settings: settings, video: video)
print("listening on \(fake.baseURL)")
fflush(nil)
// Until the test closes our stdin.
while let line = readLine(strippingNewline: true), line != "quit" {
    guard line == "stats" else { continue }
    let stats: [String: Any] = ["maxInProgress": fake.maxInProgress, "creates": fake.creates.map { String(decoding: $0.body, as: UTF8.self) }]
    print(String(decoding: try JSONSerialization.data(withJSONObject: stats), as: UTF8.self))
    fflush(nil)
}
