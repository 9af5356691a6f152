import Foundation
import TestSupport

// Runs the fake Gemini server on its own, so the official google-genai SDK can be pointed at it
// (Tests/conformance/test_google_genai.py): the fake cannot drift from the real protocol.
//   fake-gemini [--delivery inline|uri] [--flat]   prints "listening on http://127.0.0.1:PORT"
var settings = FakeGemini.Settings()
let args = CommandLine.arguments
if let i = args.firstIndex(of: "--delivery"), i + 1 < args.count { settings.delivery = args[i + 1] }
if args.contains("--flat") { settings.flatOutputs = true }
let video = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
let fake = try FakeGemini(settings: settings, video: video)
print("listening on \(fake.baseURL)")
fflush(nil)
// Until the test closes our stdin.
while let line = readLine(strippingNewline: true), line != "quit" {}
