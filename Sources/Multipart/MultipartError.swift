/// Why a multipart body was refused; `message` is safe to show the client (it never echoes the
/// body's bytes).
public struct MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidBoundary, malformed, truncated, tooManyParts, headersTooLarge, fieldTooLarge, fileTooLarge
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
