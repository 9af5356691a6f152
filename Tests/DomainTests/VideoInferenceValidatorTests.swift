import Domain
import Foundation
import Testing

let uuid = "0f8b7c3e-5a8d-4c3b-9f8e-2d1c0b9a8e7f"
let pngBase64 = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).base64EncodedString()
let validator = VideoInferenceValidator(knownModels: ["google:gemini@omni-flash", "reelgate:simulator@1"])

func task(_ extra: [String: JSONValue] = [:], removing: [String] = []) -> [String: JSONValue] {
    var t: [String: JSONValue] = ["taskType": "videoInference", "taskUUID": .string(uuid), "model": "reelgate:simulator@1",
                                  "positivePrompt": "a cat on a skateboard"]
    t.merge(extra) { $1 }
    for key in removing { t[key] = nil }
    return t
}

struct Case: CustomTestStringConvertible, Sendable {
    let name: String
    let task: [String: JSONValue]
    let code: String
    let parameter: APIErrorItem.Parameter?
    var testDescription: String { name }
}

@Suite("videoInference validation")
struct VideoInferenceValidatorTests {
    @Test func defaultsAreFilledIn() throws {
        let r = try validator.validate(task()).get()
        #expect(r.duration == 10 && r.numberResults == 1 && r.outputType == .url && r.outputFormat == .mp4)
        #expect(r.outputQuality == 95 && r.ttl == 86_400 && !r.includeCost && r.effectiveAspectRatio == "16:9")
    }

    @Test func everyFieldInRangeIsAccepted() throws {
        let r = try validator.validate(task([
            "negativePrompt": "blur", "duration": 5, "width": 1280, "height": 720, "aspectRatio": "16:9", "resolution": "720p",
            "fps": 24, "seed": 42, "numberResults": 4, "outputType": "URL", "outputFormat": "webm", "outputQuality": 20,
            "deliveryMethod": "async", "webhookURL": "https://hooks.example.com/x?token=1", "uploadEndpoint": "https://s3.example.com/a.mp4",
            "ttl": 60, "includeCost": true, "safety": ["checkContent": true, "mode": "fast"],
            "providerSettings": ["google": ["generateAudio": true]],
            "inputs": ["referenceImages": [.string(pngBase64)], "frameImages": [["image": .string("data:image/png;base64,\(pngBase64)"), "frame": "last"]],
                       "videoId": .string(uuid)],
        ])).get()
        #expect(r.outputFormat == .webm && r.numberResults == 4 && r.seed(forResult: 3, fallback: 0) == 45)
        #expect(r.inputs.frameImage?.position == .last)
        #expect(r.inputs.videoId == uuid)
    }

    @Test func legacyTopLevelFrameImagesAreAccepted() throws {
        let r = try validator.validate(task(["frameImages": [["inputImage": .string(uuid), "frame": "first"]]])).get()
        #expect(r.inputs.frameImage?.image == .uploaded(uuid))
    }

    static let cases: [Case] = [
        Case(name: "missing taskUUID", task: task(removing: ["taskUUID"]), code: "missingTaskUUID", parameter: .one("taskUUID")),
        Case(name: "taskUUID not v4", task: task(["taskUUID": "0f8b7c3e-5a8d-1c3b-9f8e-2d1c0b9a8e7f"]), code: "invalidTaskUUID", parameter: .one("taskUUID")),
        Case(name: "taskUUID number", task: task(["taskUUID": 5]), code: "invalidTaskUUID", parameter: .one("taskUUID")),
        Case(name: "unknown field", task: task(["steps": 20]), code: "unsupportedParameter", parameter: .one("steps")),
        Case(name: "missing model", task: task(removing: ["model"]), code: "missingModel", parameter: .one("model")),
        Case(name: "model not AIR", task: task(["model": "gemini"]), code: "invalidModel", parameter: .one("model")),
        Case(name: "unknown model", task: task(["model": "acme:x@1"]), code: "unknownModel", parameter: .one("model")),
        Case(name: "missing prompt", task: task(removing: ["positivePrompt"]), code: "missingPositivePrompt", parameter: .one("positivePrompt")),
        Case(name: "prompt too short", task: task(["positivePrompt": "a"]), code: "invalidPositivePrompt", parameter: .one("positivePrompt")),
        Case(name: "prompt too long", task: task(["positivePrompt": .string(String(repeating: "a", count: 3001))]), code: "invalidPositivePrompt", parameter: .one("positivePrompt")),
        Case(name: "prompt not string", task: task(["positivePrompt": 12]), code: "invalidPositivePrompt", parameter: .one("positivePrompt")),
        Case(name: "negative prompt empty", task: task(["negativePrompt": ""]), code: "invalidNegativePrompt", parameter: .one("negativePrompt")),
        Case(name: "duration 2", task: task(["duration": 2]), code: "invalidDuration", parameter: .one("duration")),
        Case(name: "duration 11", task: task(["duration": 11]), code: "invalidDuration", parameter: .one("duration")),
        Case(name: "duration fraction", task: task(["duration": 5.5]), code: "invalidDuration", parameter: .one("duration")),
        Case(name: "duration string", task: task(["duration": "5"]), code: "invalidDuration", parameter: .one("duration")),
        Case(name: "width not multiple of 8", task: task(["width": 1001, "height": 720]), code: "invalidWidth", parameter: .one("width")),
        Case(name: "height too small", task: task(["width": 1280, "height": 200]), code: "invalidHeight", parameter: .one("height")),
        Case(name: "width too big", task: task(["width": 4104, "height": 720]), code: "invalidWidth", parameter: .one("width")),
        Case(name: "width without height", task: task(["width": 1280]), code: "missingHeight", parameter: .many(["width", "height"])),
        Case(name: "aspect ratio unknown", task: task(["aspectRatio": "4:3"]), code: "invalidAspectRatio", parameter: .one("aspectRatio")),
        Case(name: "aspect ratio contradicts size", task: task(["width": 720, "height": 1280, "aspectRatio": "16:9"]), code: "incompatibleParameters", parameter: .many(["width", "height", "aspectRatio"])),
        Case(name: "resolution 4k", task: task(["resolution": "4k"]), code: "invalidResolution", parameter: .one("resolution")),
        Case(name: "fps 0", task: task(["fps": 0]), code: "invalidFps", parameter: .one("fps")),
        Case(name: "seed negative", task: task(["seed": -1]), code: "invalidSeed", parameter: .one("seed")),
        Case(name: "numberResults 0", task: task(["numberResults": 0]), code: "invalidNumberResults", parameter: .one("numberResults")),
        Case(name: "numberResults 5", task: task(["numberResults": 5]), code: "invalidNumberResults", parameter: .one("numberResults")),
        Case(name: "outputType bad", task: task(["outputType": "file"]), code: "invalidOutputType", parameter: .one("outputType")),
        Case(name: "outputFormat gif", task: task(["outputFormat": "GIF"]), code: "invalidOutputFormat", parameter: .one("outputFormat")),
        Case(name: "outputQuality 19", task: task(["outputQuality": 19]), code: "invalidOutputQuality", parameter: .one("outputQuality")),
        Case(name: "outputQuality 100", task: task(["outputQuality": 100]), code: "invalidOutputQuality", parameter: .one("outputQuality")),
        Case(name: "deliveryMethod sync", task: task(["deliveryMethod": "sync"]), code: "unsupportedParameter", parameter: .one("deliveryMethod")),
        Case(name: "deliveryMethod stream", task: task(["deliveryMethod": "stream"]), code: "invalidDeliveryMethod", parameter: .one("deliveryMethod")),
        Case(name: "webhook http", task: task(["webhookURL": "http://example.com/h"]), code: "invalidWebhookURL", parameter: .one("webhookURL")),
        Case(name: "webhook not string", task: task(["webhookURL": 1]), code: "invalidWebhookURL", parameter: .one("webhookURL")),
        Case(name: "upload http", task: task(["uploadEndpoint": "http://example.com/u"]), code: "invalidUploadEndpoint", parameter: .one("uploadEndpoint")),
        Case(name: "ttl 59", task: task(["ttl": 59]), code: "invalidTtl", parameter: .one("ttl")),
        Case(name: "ttl with base64", task: task(["ttl": 600, "outputType": "base64Data"]), code: "incompatibleParameters", parameter: .many(["ttl", "outputType"])),
        Case(name: "includeCost string", task: task(["includeCost": "yes"]), code: "invalidIncludeCost", parameter: .one("includeCost")),
        Case(name: "safety unknown key", task: task(["safety": ["tolerance": 1]]), code: "unsupportedParameter", parameter: .one("safety.tolerance")),
        Case(name: "safety mode bad", task: task(["safety": ["mode": "max"]]), code: "invalidSafety", parameter: .one("safety.mode")),
        Case(name: "providerSettings array", task: task(["providerSettings": [1]]), code: "invalidProviderSettings", parameter: .one("providerSettings")),
        Case(name: "inputs not object", task: task(["inputs": "x"]), code: "invalidInputs", parameter: .one("inputs")),
        Case(name: "inputs unknown", task: task(["inputs": ["audio": "x"]]), code: "unsupportedParameter", parameter: .one("inputs.audio")),
        Case(name: "8 reference images", task: task(["inputs": ["referenceImages": .array(Array(repeating: .string(uuid), count: 8))]]), code: "invalidReferenceImages", parameter: .one("inputs.referenceImages")),
        Case(name: "reference image garbage", task: task(["inputs": ["referenceImages": ["!!notbase64!!"]]]), code: "invalidReferenceImages", parameter: .one("inputs.referenceImages[0]")),
        Case(name: "reference image gif", task: task(["inputs": ["referenceImages": .array([.string(Data("GIF89a....".utf8).base64EncodedString())])]]), code: "invalidReferenceImages", parameter: .one("inputs.referenceImages[0]")),
        Case(name: "data URI not image", task: task(["inputs": ["referenceImages": ["data:text/plain;base64,aGVsbG8="]]]), code: "invalidReferenceImages", parameter: .one("inputs.referenceImages[0]")),
        Case(name: "image URL http", task: task(["inputs": ["referenceImages": ["http://example.com/a.png"]]]), code: "invalidInputURL", parameter: .one("inputs.referenceImages[0]")),
        Case(name: "two frame images", task: task(["inputs": ["frameImages": [.string(uuid), .string(uuid)]]]), code: "invalidFrameImages", parameter: .one("inputs.frameImages")),
        Case(name: "frame position bad", task: task(["inputs": ["frameImages": [["image": .string(uuid), "frame": "middle"]]]]), code: "invalidFrameImages", parameter: .one("inputs.frameImages[0].frame")),
        Case(name: "frame and timestamp", task: task(["inputs": ["frameImages": [["image": .string(uuid), "frame": "first", "timestamp": 1]]]]), code: "incompatibleParameters", parameter: .many(["inputs.frameImages[0].frame", "inputs.frameImages[0].timestamp"])),
        Case(name: "frame image without image", task: task(["inputs": ["frameImages": [["frame": "first"]]]]), code: "missingFrameImage", parameter: .one("inputs.frameImages[0].image")),
        Case(name: "videoId not uuid", task: task(["inputs": ["videoId": "abc"]]), code: "invalidVideoId", parameter: .one("inputs.videoId")),
        Case(name: "legacy and nested together", task: task(["referenceImages": [.string(uuid)], "inputs": ["referenceImages": [.string(uuid)]]]), code: "incompatibleParameters", parameter: .many(["referenceImages", "inputs.referenceImages"])),
    ]

    @Test(arguments: cases)
    func refused(_ c: Case) {
        switch validator.validate(c.task) {
        case .success: Issue.record("accepted \(c.name)")
        case .failure(let error):
            #expect(error.code.name == c.code)
            #expect(error.parameter == c.parameter)
            #expect(!error.message.isEmpty)
        }
    }

    @Test func unknownModelListsAllowedValues() {
        guard case .failure(let error) = validator.validate(task(["model": "acme:x@1"])) else { Issue.record("accepted"); return }
        #expect(error.allowedValues == ["google:gemini@omni-flash", "reelgate:simulator@1"])
        #expect(error.status == 400)
    }

    @Test func statusesFollowCodes() {
        #expect(APIErrorItem(code: .invalidApiKey, message: "").status == 401)
        #expect(APIErrorItem(code: .conflictTaskUUID, message: "").status == 409)
        #expect(APIErrorItem(code: .taskNotFound, message: "").status == 404)
        #expect(APIErrorItem(code: .rateLimitExceeded, message: "").status == 429)
    }
}
