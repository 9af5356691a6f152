/// A validated `videoInference` task: every field in range, defaults filled in.
public struct VideoInferenceRequest: Sendable, Equatable {
    public enum OutputType: String, Sendable, CaseIterable { case url = "URL", base64Data, dataURI }
    public enum OutputFormat: String, Sendable, CaseIterable {
        case mp4 = "MP4", webm = "WEBM", mov = "MOV"
        public var fileExtension: String { rawValue.lowercased() }
        public var contentType: String {
            switch self {
            case .mp4: "video/mp4"
            case .webm: "video/webm"
            case .mov: "video/quicktime"
            }
        }
    }

    /// An image reference as the client gave it.
    public enum ImageInput: Sendable, Equatable {
        case url(String)
        case dataURI(String)
        case base64(String)
        /// A UUID returned by an earlier `imageUpload`.
        case uploaded(String)

        public var uploadedUUID: String? {
            if case .uploaded(let uuid) = self { return uuid }
            return nil
        }
    }

    public struct FrameImage: Sendable, Equatable {
        public enum Position: Sendable, Equatable {
            case first, last
            case frame(Int)
            case timestamp(Double)
        }
        public var image: ImageInput
        public var position: Position
    }

    public struct Inputs: Sendable, Equatable {
        public var referenceImages: [ImageInput] = []
        public var frameImage: FrameImage?
        /// A URL or a stored video UUID.
        public var video: String?
        /// An earlier result of this gateway to edit (conversational editing).
        public var videoId: String?
        public init() {}
    }

    public var taskUUID: String
    public var model: String
    public var positivePrompt: String
    public var negativePrompt: String?
    public var duration: Int
    public var width: Int?
    public var height: Int?
    public var aspectRatio: String?
    public var resolution: String?
    public var fps: Int?
    public var seed: Int64?
    public var numberResults: Int
    public var outputType: OutputType
    public var outputFormat: OutputFormat
    public var outputQuality: Int
    public var webhookURL: String?
    public var uploadEndpoint: String?
    public var ttl: Int
    public var includeCost: Bool
    public var checkContent: Bool
    public var safetyMode: String
    public var providerSettings: [String: JSONValue]
    public var inputs: Inputs

    /// The aspect ratio to generate: the explicit one, else from width/height, else 16:9.
    public var effectiveAspectRatio: String {
        if let aspectRatio { return aspectRatio }
        if let width, let height {
            if width == height { return "1:1" }
            return width > height ? "16:9" : "9:16"
        }
        return "16:9"
    }

    /// The seed of result `index`: consecutive from the given seed, so each result differs.
    public func seed(forResult index: Int, fallback: Int64) -> Int64 {
        let base = seed ?? fallback
        return base &+ Int64(index)
    }
}
