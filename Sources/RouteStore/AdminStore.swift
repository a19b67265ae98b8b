import Foundation

/// A bearer token of the admin API, as the store keeps it: its name and rights, never the
/// token itself (only its SHA-256, which `AdminStore` looks tokens up by).
public struct AdminToken: Sendable, Equatable, Codable {
    public var id: Int64
    /// Who the token belongs to, as operators named it; the audit of changes shows it.
    public var name: String
    /// A read-only token may look but not change anything.
    public var readOnly: Bool
    public var createdAt: Date
    /// When it was last used, to the minute (the store does not write on every request).
    public var lastUsedAt: Date?
    /// When it was revoked; a revoked token is refused.
    public var revokedAt: Date?

    public init(id: Int64 = 0, name: String, readOnly: Bool, createdAt: Date = Date(), lastUsedAt: Date? = nil, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.readOnly = readOnly
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }

    /// Token names: 1 to 64 letters, digits and `.`, `_`, `-`, `@`, so they print safely in the audit.
    public static func validatedName(_ name: String) throws(RouteStoreError) -> String {
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-@".unicodeScalars.contains(scalar))
        }
        guard (1...64).contains(name.count), allowed else {
            throw .invalidTokenName(name)
        }
        return name
    }
}

/// One change made through the admin API: who made it (the token's name), what, to what, when.
public struct AdminChange: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: Date
    /// The name of the token that made the change.
    public var token: String
    /// That token's id (names can be given again after a revocation).
    public var tokenID: Int64
    /// What was done, e.g. `route.create`, `session.end`.
    public var action: String
    /// What it was done to: a login, a session id, a key fingerprint.
    public var target: String
    /// The request's content as JSON (never a secret: tokens are not changed through the API).
    public var detail: String

    public init(id: Int64 = 0, at: Date = Date(), token: String, tokenID: Int64, action: String, target: String, detail: String) {
        self.id = id
        self.at = at
        self.token = token
        self.tokenID = tokenID
        self.action = action
        self.target = target
        self.detail = detail
    }
}

/// The admin API's tokens and the record of the changes made through it.
public protocol AdminStore: Sendable {
    /// Stores a new token under `name` (refused if a token not revoked has that name).
    func addAdminToken(name: String, tokenHash: String, readOnly: Bool) throws(RouteStoreError) -> AdminToken
    /// Every token, revoked ones included, oldest first.
    func adminTokens() throws(RouteStoreError) -> [AdminToken]
    /// Revokes the token named `name`; it is refused from then on.
    func revokeAdminToken(name: String) throws(RouteStoreError) -> AdminToken
    /// The token, not revoked, whose SHA-256 is `tokenHash`; notes its use (at most once a minute).
    func activeAdminToken(tokenHash: String) throws(RouteStoreError) -> AdminToken?
    /// Runs `change` and records it in one transaction: if either fails, neither happened.
    func recordingAdminChange<T>(
        by token: AdminToken, action: String, target: String, detail: String,
        _ change: () throws(RouteStoreError) -> T
    ) throws(RouteStoreError) -> T
    /// The newest `limit` recorded changes, newest first.
    func adminChanges(limit: Int) throws(RouteStoreError) -> [AdminChange]
}
