import Foundation

/// One of the proxy's own user-signing CAs: the key that signs the certificate of each upstream
/// login on routes with `upstream_auth = certificate`.
public struct SigningAuthority: Sendable, Equatable {
    /// Where a CA is in its life. `ca init` makes the first one `.signing`; `ca rotate` adds a
    /// `.next` one that upstreams should learn to trust while the old one keeps signing;
    /// `ca retire` retires the old one and the next one signs from then on.
    public enum State: String, Sendable, Codable {
        case signing
        case next
        case retired
    }

    public var id: Int64
    /// The CA's public key as one line (`ssh-ed25519 AAAA… comment`), for TrustedUserCAKeys.
    public var publicKey: String
    public var fingerprint: String
    /// The private key's file (a node on SQLite); `nil` in a shared database.
    public var keyFile: String?
    /// The private key as OpenSSH text encrypted with the cluster secret (a shared database).
    public var encryptedKey: String?
    public var state: State
    public var createdAt: Date
    public var retiredAt: Date?

    public init(
        id: Int64 = 0, publicKey: String, fingerprint: String, keyFile: String? = nil, encryptedKey: String? = nil,
        state: State, createdAt: Date = Date(), retiredAt: Date? = nil
    ) {
        self.id = id
        self.publicKey = publicKey
        self.fingerprint = fingerprint
        self.keyFile = keyFile
        self.encryptedKey = encryptedKey
        self.state = state
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}

/// A CA whose user certificates log clients in (`ca trust-client`).
public struct TrustedClientAuthority: Sendable, Equatable {
    public var name: String
    public var keyType: String
    public var keyBase64: String
    public var fingerprint: String
    public var createdAt: Date

    public init(name: String, keyType: String, keyBase64: String, fingerprint: String, createdAt: Date = Date()) {
        self.name = name
        self.keyType = keyType
        self.keyBase64 = keyBase64
        self.fingerprint = fingerprint
        self.createdAt = createdAt
    }

    public var publicKeyLine: String { "\(keyType) \(keyBase64)" }
}

/// A client certificate revoked before it expires: by serial or by key id, for one trusted
/// client CA or (`authority == nil`) for all of them.
public struct CertificateRevocation: Sendable, Equatable {
    public enum Match: Sendable, Equatable {
        case serial(UInt64)
        case keyID(String)
    }

    public var id: Int64
    public var authority: String?
    public var match: Match
    public var createdAt: Date

    public init(id: Int64 = 0, authority: String? = nil, match: Match, createdAt: Date = Date()) {
        self.id = id
        self.authority = authority
        self.match = match
        self.createdAt = createdAt
    }
}

/// What a login needs to know about certificates: which CA signs upstream certificates, which
/// client CAs are trusted, and what was revoked.
public protocol CertificateLookup: Sendable {
    /// The CA that signs upstream certificates now, or `nil` before `ca init`.
    func signingAuthority() throws(RouteStoreError) -> SigningAuthority?
    /// The trusted client CA whose public key has `fingerprint`, if any.
    func trustedClientAuthority(fingerprint: String) throws(RouteStoreError) -> TrustedClientAuthority?
    /// True if a certificate from the client CA `authority` with this serial or key id is revoked.
    func isCertificateRevoked(authority: String, serial: UInt64, keyID: String) throws(RouteStoreError) -> Bool
}
