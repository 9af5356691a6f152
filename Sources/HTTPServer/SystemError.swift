import Glibc

/// A failed system call: which call, and the errno it left.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public let function: String
    public let errno: Int32

    public init(_ function: String, errno: Int32 = Glibc.errno) {
        self.function = function
        self.errno = errno
    }

    public var description: String { "\(function): \(String(cString: strerror(errno))) (errno \(errno))" }
}
