/// Sign-in sessions of the ops console (SPEC §17), kept in the store so that every instance
/// behind one load balancer knows them and a sign-out on one ends the session on all.
///
/// Only a digest of the session token is stored: a copy of the database does not sign anyone in.
public protocol ConsoleSessionRepository: Sendable {
    /// Stores a new session; sessions past their expiry are removed on the way, and the key's
    /// oldest beyond `keepingAtMost` (a key cannot fill the table by signing in in a loop).
    func createConsoleSession(_ session: ConsoleSession, keepingAtMost: Int) async throws

    /// The session with this token digest, if it has not expired.
    func consoleSession(digest: String) async throws -> ConsoleSession?

    /// Ends a session (sign-out); nothing happens for an unknown digest.
    func deleteConsoleSession(digest: String) async throws
}

/// One signed-in console: whose key, which key (a fingerprint, so that a key replaced in the
/// configuration under the same name no longer counts), and until when.
public struct ConsoleSession: Sendable, Equatable {
    /// Hex SHA-256 of the session token.
    public var digest: String
    public var keyName: String
    public var keyFingerprint: String
    public var createdAt: Double
    public var expiresAt: Double

    public init(digest: String, keyName: String, keyFingerprint: String, createdAt: Double, expiresAt: Double) {
        self.digest = digest
        self.keyName = keyName
        self.keyFingerprint = keyFingerprint
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}
