import Foundation

/// One row of the routing table: where a login name is sent.
public struct Route: Sendable, Equatable {
    /// The name the client logs in with at the gateway (`ssh alice@gateway`).
    public var login: String
    /// Host name or IP address of the upstream SSH server (IPv6 without brackets).
    public var upstreamHost: String
    /// TCP port of the upstream SSH server.
    public var upstreamPort: Int
    /// The user to log in as upstream; `nil` means "the same as `login`".
    public var upstreamUser: String?
    /// A disabled route refuses logins exactly like a missing one.
    public var enabled: Bool
    /// The upstream's pinned host key, `SHA256:…`; `nil` until pinned.
    public var hostKeyFingerprint: String?
    /// How this route treats upstream host keys; `nil` means the proxy's global default.
    public var hostKeyPolicy: HostKeyPolicy?
    /// Private key the proxy logs in upstream with when the client used a public key.
    public var identityFile: String?
    /// The same kind of key kept in the database instead of a file (so every node of a cluster
    /// has it): OpenSSH private key text encrypted with the cluster secret; `nil` if none.
    public var identityKey: String?
    /// Which port forwarding clients may use; `nil` means all.
    public var forwarding: ForwardingPolicy?
    /// Whether interactive sessions are recorded; `nil` means "when the proxy has a record directory".
    public var record: Bool?
    /// How the proxy logs in upstream; `nil` means automatic (see `UpstreamAuthentication`).
    public var upstreamAuth: UpstreamAuthentication?
    /// The principal of the certificates made for this route (`upstreamAuth == .certificate`);
    /// `nil` means the upstream user.
    public var certificatePrincipal: String?
    /// How long a certificate made for one upstream login stays valid, in seconds; `nil` means
    /// `Route.defaultCertificateLifetime`.
    public var certificateLifetime: Int?
    /// Who may use the route, from where, when and for what.
    public var access: AccessPolicy
    /// Where a pattern route stands among the others: lower first; nil for other routes.
    public var matchPriority: Int?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        login: String, upstreamHost: String, upstreamPort: Int = 22, upstreamUser: String? = nil,
        enabled: Bool = true, hostKeyFingerprint: String? = nil, hostKeyPolicy: HostKeyPolicy? = nil,
        identityFile: String? = nil, identityKey: String? = nil, forwarding: ForwardingPolicy? = nil, record: Bool? = nil,
        upstreamAuth: UpstreamAuthentication? = nil, certificatePrincipal: String? = nil, certificateLifetime: Int? = nil,
        access: AccessPolicy = .open, matchPriority: Int? = nil, createdAt: Date = Date(), updatedAt: Date = Date()
    ) {
        self.access = access
        self.matchPriority = matchPriority
        self.identityKey = identityKey
        self.upstreamAuth = upstreamAuth
        self.certificatePrincipal = certificatePrincipal
        self.certificateLifetime = certificateLifetime
        self.record = record
        self.identityFile = identityFile
        self.forwarding = forwarding
        self.login = login
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.upstreamUser = upstreamUser
        self.enabled = enabled
        self.hostKeyFingerprint = hostKeyFingerprint
        self.hostKeyPolicy = hostKeyPolicy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The user name presented to the upstream server.
    public var effectiveUpstreamUser: String { upstreamUser ?? login }

    /// The one principal of the certificates made for this route's upstream logins.
    public var effectiveCertificatePrincipal: String { certificatePrincipal ?? effectiveUpstreamUser }

    /// Five minutes: long enough for a slow upstream to check it, short enough to be useless
    /// soon after if it leaks (it names one login and cannot be renewed).
    public static let defaultCertificateLifetime = 300

    public var effectiveCertificateLifetime: Int { certificateLifetime ?? Route.defaultCertificateLifetime }

    /// The login name of the catch-all route, which serves every login without a route of its own.
    public static let catchAllLogin = "*"

    public var isCatchAll: Bool { login == Route.catchAllLogin }

    /// True for a pattern route, whose login column is `~` and its pattern.
    public var isPattern: Bool { login.first == RoutePattern.marker }

    /// A pattern route's regular expression as written.
    public var patternSource: String? { isPattern ? String(login.dropFirst()) : nil }

    /// True for routes that serve logins other than their own (catch-all and pattern routes):
    /// such a route takes no key of its own and makes no certificates, since one key would log
    /// in as every name it serves.
    public var servesManyLogins: Bool { isCatchAll || isPattern }

    /// A pattern route as it serves `login`, whose groups were `captures`: the upstream user
    /// template is filled in (the login itself if none is given). The stored login stays the
    /// pattern's, so keys and pins are the pattern route's.
    public func servingPattern(for login: String, captures: [String]) -> Route {
        var route = self
        route.upstreamUser = upstreamUser.map { RoutePattern.expand($0, with: captures) } ?? login
        return route
    }

    /// The catch-all route as it serves `login`: the upstream user defaults to that login.
    /// The stored login stays "*", so pins and keys are the catch-all route's.
    public func servingCatchAll(for login: String) -> Route {
        var route = self
        route.upstreamUser = upstreamUser ?? login
        return route
    }

    /// `host:port`, with IPv6 hosts in brackets, as operators write it.
    public var upstreamAddress: String { HostPort(host: upstreamHost, port: upstreamPort).description }
}

/// How the proxy treats an upstream's host key.
public enum HostKeyPolicy: String, Sendable, Codable, CaseIterable {
    /// Only a pinned key is accepted; a route with no pin refuses logins.
    case strict
    /// The first successful login pins the key (trust on first use); later a different key is refused.
    case acceptNew = "accept-new"
    /// Keys are not checked; every login logs a warning.
    case off
}

/// Which port forwarding a route allows.
public enum ForwardingPolicy: String, Sendable, Codable, CaseIterable {
    case all
    /// `ssh -L`, `-D`, `-W` (the upstream connects out).
    case local
    /// `ssh -R` (the upstream listens).
    case remote
    case none

    public var allowsLocal: Bool { self == .all || self == .local }
    public var allowsRemote: Bool { self == .all || self == .remote }
    /// Agent forwarding on to the upstream: like a remote forward, the upstream then opens
    /// channels back toward the client (to its agent).
    public var allowsAgent: Bool { allowsRemote }
}

/// How the proxy logs in to a route's upstream.
public enum UpstreamAuthentication: String, Sendable, Codable, CaseIterable {
    /// The client's password (or keyboard-interactive answers) goes upstream; public-key
    /// clients are refused.
    case password
    /// The route's own private key (`--identity-file` or `route keygen`), for clients whose
    /// key is listed or whose certificate a trusted client CA signed.
    case key
    /// The client's own key, through its forwarded agent (`ssh -A`).
    case agent
    /// A certificate the proxy's CA makes for this one login, with a key that exists only in
    /// memory; the client proves itself to the proxy with a listed key or a client certificate.
    case certificate
}

/// Changes to apply to an existing route; `nil` fields stay as they are.
public struct RouteChanges: Sendable, Equatable {
    public var upstreamHost: String?
    public var upstreamPort: Int?
    /// `.some(nil)` clears the upstream user (back to the login name).
    public var upstreamUser: String??
    public var enabled: Bool?
    /// `.some(nil)` removes the pin. Changing host or port without giving a pin also removes it:
    /// a different host has a different key.
    public var hostKeyFingerprint: String??
    /// `.some(nil)` goes back to the global default.
    public var hostKeyPolicy: HostKeyPolicy??
    /// `.some(nil)` removes the mapped identity.
    public var identityFile: String??
    /// `.some(nil)` removes the key kept in the database.
    public var identityKey: String??
    public var forwarding: ForwardingPolicy?
    /// `.some(nil)` goes back to the proxy's default.
    public var record: Bool??
    /// `.some(nil)` goes back to automatic.
    public var upstreamAuth: UpstreamAuthentication??
    /// `.some(nil)` goes back to the upstream user.
    public var certificatePrincipal: String??
    /// `.some(nil)` goes back to the default lifetime.
    public var certificateLifetime: Int??
    /// A pattern route's new place in the order.
    public var matchPriority: Int?
    /// Changes to the access rules.
    public var access: AccessPolicyChanges

    public init(
        upstreamHost: String? = nil, upstreamPort: Int? = nil, upstreamUser: String?? = nil, enabled: Bool? = nil,
        hostKeyFingerprint: String?? = nil, hostKeyPolicy: HostKeyPolicy?? = nil, identityFile: String?? = nil,
        identityKey: String?? = nil, forwarding: ForwardingPolicy? = nil, record: Bool?? = nil,
        upstreamAuth: UpstreamAuthentication?? = nil, certificatePrincipal: String?? = nil, certificateLifetime: Int?? = nil,
        access: AccessPolicyChanges = AccessPolicyChanges(), matchPriority: Int? = nil
    ) {
        self.access = access
        self.matchPriority = matchPriority
        self.upstreamAuth = upstreamAuth
        self.certificatePrincipal = certificatePrincipal
        self.certificateLifetime = certificateLifetime
        self.identityKey = identityKey
        self.identityFile = identityFile
        self.forwarding = forwarding
        self.record = record
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.upstreamUser = upstreamUser
        self.enabled = enabled
        self.hostKeyFingerprint = hostKeyFingerprint
        self.hostKeyPolicy = hostKeyPolicy
    }

    public var isEmpty: Bool {
        upstreamHost == nil && upstreamPort == nil && upstreamUser == nil && enabled == nil
            && hostKeyFingerprint == nil && hostKeyPolicy == nil && identityFile == nil && identityKey == nil && forwarding == nil && record == nil
            && upstreamAuth == nil && certificatePrincipal == nil && certificateLifetime == nil && access.isEmpty
            && matchPriority == nil
    }
}

/// Changes to a route's access rules; `nil` fields stay, `.some(nil)` turns a rule off.
public struct AccessPolicyChanges: Sendable, Equatable {
    public var allowFrom: [AddressRange]?
    public var schedule: AccessSchedule??
    public var scheduleEndsSessions: Bool?
    public var validFrom: Date??
    public var validUntil: Date??
    public var maxSessions: Int??
    public var allowedChannels: Set<ChannelKind>??

    public init(
        allowFrom: [AddressRange]? = nil, schedule: AccessSchedule?? = nil, scheduleEndsSessions: Bool? = nil, validFrom: Date?? = nil,
        validUntil: Date?? = nil, maxSessions: Int?? = nil, allowedChannels: Set<ChannelKind>?? = nil
    ) {
        self.allowFrom = allowFrom
        self.schedule = schedule
        self.scheduleEndsSessions = scheduleEndsSessions
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.maxSessions = maxSessions
        self.allowedChannels = allowedChannels
    }

    public var isEmpty: Bool {
        allowFrom == nil && schedule == nil && scheduleEndsSessions == nil && validFrom == nil && validUntil == nil && maxSessions == nil && allowedChannels == nil
    }

    /// `policy` with these changes.
    public func applied(to policy: AccessPolicy) -> AccessPolicy {
        var policy = policy
        if let allowFrom { policy.allowFrom = allowFrom }
        if let schedule { policy.schedule = schedule }
        if let scheduleEndsSessions { policy.scheduleEndsSessions = scheduleEndsSessions }
        if let validFrom { policy.validFrom = validFrom }
        if let validUntil { policy.validUntil = validUntil }
        if let maxSessions { policy.maxSessions = maxSessions }
        if let allowedChannels { policy.allowedChannels = allowedChannels }
        return policy
    }
}
