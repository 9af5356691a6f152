/// Every way a request can be refused before it reaches a handler.
///
/// A closed set so each case maps to exactly one status. After any of these the connection is
/// closed: the byte stream can no longer be trusted to be framed the way the peer meant
/// (RFC 9112 §6.3, last paragraph; this is what defeats request smuggling).
public enum HTTPParseError: Error, Sendable, Equatable {
    case invalidRequestLine
    case invalidMethod
    case invalidRequestTarget
    case requestTargetTooLong
    case invalidVersion
    case unsupportedVersion
    /// A CR not followed by LF, anywhere in the head (RFC 9112 §2.2).
    case bareCR
    /// A line ended by LF alone; accepting it is only a MAY and a classic parser-disagreement vector.
    case bareLF
    case headerSectionTooLarge
    case tooManyHeaders
    case invalidHeaderName
    case invalidHeaderValue
    /// SP or HTAB between a field name and its colon (RFC 9112 §5.1: MUST reject).
    case whitespaceBeforeColon
    /// A header line starting with SP or HTAB (RFC 9112 §5.2).
    case obsoleteLineFolding
    case missingHost
    case multipleHost
    /// Content-Length and Transfer-Encoding together (RFC 9112 §6.1).
    case contentLengthWithTransferEncoding
    case multipleContentLength
    case invalidContentLength
    /// Transfer-Encoding whose final coding is not chunked (RFC 9112 §6.3).
    case transferEncodingNotChunked
    /// A transfer coding other than chunked (RFC 9112 §6.1: 501).
    case unsupportedTransferCoding
    case transferEncodingInHTTP10
    case invalidChunkSize
    case invalidChunkExtension
    case chunkExtensionTooLong
    case missingChunkTerminator
    case trailerSectionTooLarge
    case invalidTrailer
    case bodyTooLarge

    public var status: HTTPStatus {
        switch self {
        case .requestTargetTooLong: .uriTooLong
        case .headerSectionTooLarge, .tooManyHeaders: .headerFieldsTooLarge
        case .unsupportedVersion: .versionNotSupported
        case .unsupportedTransferCoding: .notImplemented
        case .bodyTooLarge: .contentTooLarge
        default: .badRequest
        }
    }

    /// A short, specific explanation for the error body.
    public var message: String {
        switch self {
        case .invalidRequestLine: "malformed request line"
        case .invalidMethod: "method is not a token"
        case .invalidRequestTarget: "malformed request target"
        case .requestTargetTooLong: "request target longer than the limit"
        case .invalidVersion: "malformed HTTP version"
        case .unsupportedVersion: "only HTTP/1.1 and HTTP/1.0 are supported"
        case .bareCR: "CR not followed by LF"
        case .bareLF: "line ended by LF without CR"
        case .headerSectionTooLarge: "header section larger than the limit"
        case .tooManyHeaders: "more header fields than the limit"
        case .invalidHeaderName: "header field name is not a token"
        case .invalidHeaderValue: "header field value contains a control character"
        case .whitespaceBeforeColon: "whitespace between header field name and colon"
        case .obsoleteLineFolding: "obsolete line folding is not accepted"
        case .missingHost: "HTTP/1.1 request without Host"
        case .multipleHost: "more than one Host field"
        case .contentLengthWithTransferEncoding: "Content-Length together with Transfer-Encoding"
        case .multipleContentLength: "more than one Content-Length"
        case .invalidContentLength: "Content-Length is not a decimal number"
        case .transferEncodingNotChunked: "Transfer-Encoding does not end in chunked"
        case .unsupportedTransferCoding: "only the chunked transfer coding is supported"
        case .transferEncodingInHTTP10: "Transfer-Encoding in an HTTP/1.0 request"
        case .invalidChunkSize: "malformed chunk size"
        case .invalidChunkExtension: "malformed chunk extension"
        case .chunkExtensionTooLong: "chunk extension longer than the limit"
        case .missingChunkTerminator: "chunk data not followed by CRLF"
        case .trailerSectionTooLarge: "trailer section larger than the limit"
        case .invalidTrailer: "malformed trailer field"
        case .bodyTooLarge: "request body larger than the limit"
        }
    }
}
