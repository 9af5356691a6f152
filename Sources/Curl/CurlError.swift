/// Why a transfer failed, classified for retry decisions; the libcurl code and message ride along.
///
/// The URL is deliberately not stored: presigned and webhook URLs carry secrets in their query.
public struct CurlError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case dns
        case connect
        case timeout
        case tls
        /// The connection broke or the peer sent nothing / garbage mid-transfer.
        case transfer
        /// The response body outgrew the cap.
        case tooLarge
        case cancelled
        case invalidURL
        case tooManyRedirects
        /// A local file could not be read or written.
        case localFile
        case other
    }

    public let kind: Kind
    public let curlCode: Int32
    public let message: String
    /// The host the transfer was for (never the full URL).
    public let host: String

    public init(kind: Kind, curlCode: Int32, message: String, host: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
        self.host = host
    }

    /// Network failures that another attempt may cure.
    public var isRetryable: Bool {
        switch kind {
        case .dns, .connect, .timeout, .transfer: true
        default: false
        }
    }

    public var description: String { "\(kind.rawValue) (curl \(curlCode)) for \(host): \(message)" }

    static func kind(for code: Int32) -> Kind {
        switch code {
        case 6, 5: .dns  // COULDNT_RESOLVE_HOST / PROXY
        case 7: .connect  // COULDNT_CONNECT
        case 28: .timeout  // OPERATION_TIMEDOUT
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91: .tls
        case 18, 52, 55, 56, 8, 92, 16: .transfer  // PARTIAL_FILE, GOT_NOTHING, SEND/RECV_ERROR, WEIRD_SERVER_REPLY, HTTP2
        case 63: .tooLarge  // FILESIZE_EXCEEDED
        case 42: .cancelled  // ABORTED_BY_CALLBACK
        case 1, 3: .invalidURL  // UNSUPPORTED_PROTOCOL, URL_MALFORMAT
        case 47: .tooManyRedirects
        case 26, 37: .localFile  // READ_ERROR, FILE_COULDNT_READ_FILE
        default: .other
        }
    }
}
