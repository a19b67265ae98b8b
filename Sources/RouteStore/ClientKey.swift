import Foundation

/// A public key a client may log in with on one route (an authorized_keys entry).
public struct ClientKey: Sendable, Equatable, Codable {
    public var login: String
    /// e.g. "ssh-ed25519".
    public var keyType: String
    /// The key blob, base64 as in authorized_keys.
    public var keyBase64: String
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    public var fingerprint: String
    public var comment: String
    public var createdAt: Date

    public init(login: String, keyType: String, keyBase64: String, fingerprint: String, comment: String, createdAt: Date = Date()) {
        self.login = login
        self.keyType = keyType
        self.keyBase64 = keyBase64
        self.fingerprint = fingerprint
        self.comment = comment
        self.createdAt = createdAt
    }
}
