import Domain

/// One of a task's videos, with its own state.
public struct ResultRecord: Sendable, Equatable {
    public var videoUUID: String
    public var index: Int
    public var seed: Int64
    public var state: ResultState
    public var progress: Int = 0
    public var format: String
    public var mediaPath: String?
    public var mediaBytes: Int64?
    public var readyAt: Double?
    public var expiresAt: Double?
    public var cost: Double?
    public var errorCode: String?
    public var errorMessage: String?

    public init(videoUUID: String, index: Int, seed: Int64, state: ResultState, format: String) {
        self.videoUUID = videoUUID
        self.index = index
        self.seed = seed
        self.state = state
        self.format = format
    }
}
