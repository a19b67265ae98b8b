import Foundation
import RouteStore

/// A new route as an operator writes it: every field as text, the way `switchboard route add`
/// takes its options and the admin API's `POST /v1/routes` carries its JSON. Both turn it into
/// a `Route` here, so a route is checked the same way and refused with the same message
/// whichever way it came in.
public struct RouteForm: Sendable, Equatable {
    /// The login name ('*' for the catch-all); nil for a pattern route (`match`).
    public var login: String?
    /// `HOST[:PORT]`.
    public var upstream: String
    /// A pattern route's regular expression.
    public var match: String?
    public var priority: Int?
    public var upstreamUser: String?
    public var hostKey: String?
    /// strict, accept-new or off.
    public var hostKeyPolicy: String?
    public var identityFile: String?
    /// all, local, remote or none.
    public var forwarding: String?
    /// on, off or default.
    public var record: String?
    /// password, key, agent, certificate or automatic.
    public var upstreamAuth: String?
    public var principal: String?
    public var certTTL: Int?
    public var access: AccessForm

    public init(
        login: String?, upstream: String, match: String? = nil, priority: Int? = nil, upstreamUser: String? = nil,
        hostKey: String? = nil, hostKeyPolicy: String? = nil, identityFile: String? = nil, forwarding: String? = nil,
        record: String? = nil, upstreamAuth: String? = nil, principal: String? = nil, certTTL: Int? = nil,
        access: AccessForm = AccessForm()
    ) {
        self.login = login
        self.upstream = upstream
        self.match = match
        self.priority = priority
        self.upstreamUser = upstreamUser
        self.hostKey = hostKey
        self.hostKeyPolicy = hostKeyPolicy
        self.identityFile = identityFile
        self.forwarding = forwarding
        self.record = record
        self.upstreamAuth = upstreamAuth
        self.principal = principal
        self.certTTL = certTTL
        self.access = access
    }

    /// The route this form describes, checked as far as it can be without the store (the store
    /// checks the rest as it adds it).
    public func route() throws -> Route {
        if match != nil && login != nil { throw RouteFormError("give either a login or a pattern (match), not both") }
        guard let login = match.map({ "\(RoutePattern.marker)\($0)" }) ?? login else {
            throw RouteFormError("give a login, or a pattern (match) for a pattern route")
        }
        if match == nil && priority != nil { throw RouteFormError("a priority is for pattern routes (match)") }
        let address = try HostPort(parsing: upstream)
        return Route(
            login: login, upstreamHost: address.host, upstreamPort: address.port, upstreamUser: upstreamUser,
            hostKeyFingerprint: hostKey, hostKeyPolicy: try hostKeyPolicy.map(Self.hostKeyPolicy(parsing:)),
            identityFile: try identityFile.map(Credentials.validatedIdentityFile),
            forwarding: try forwarding.map(Self.forwarding(parsing:)), record: try record.map(Self.recordFlag(parsing:)) ?? nil,
            upstreamAuth: try upstreamAuth.map(Self.upstreamAuth(parsing:)) ?? nil,
            certificatePrincipal: principal, certificateLifetime: certTTL,
            access: try access.changes().applied(to: .open), matchPriority: priority)
    }

    static func hostKeyPolicy(parsing text: String) throws(RouteFormError) -> HostKeyPolicy {
        try choice(text, of: HostKeyPolicy.self, what: "host key policy")
    }

    static func forwarding(parsing text: String) throws(RouteFormError) -> ForwardingPolicy {
        try choice(text, of: ForwardingPolicy.self, what: "forwarding policy")
    }

    /// on, off or default (nil: the proxy's default).
    static func recordFlag(parsing text: String) throws(RouteFormError) -> Bool? {
        switch text {
        case "on": true
        case "off": false
        case "default": nil
        default: throw RouteFormError("invalid record setting \(quoted(text, limit: 60)): use on, off or default")
        }
    }

    /// A method, or automatic (nil: today's choice by the client's credential).
    static func upstreamAuth(parsing text: String) throws(RouteFormError) -> UpstreamAuthentication? {
        if text == "automatic" { return nil }
        guard let method = UpstreamAuthentication(rawValue: text) else {
            throw RouteFormError("invalid upstream authentication \(quoted(text, limit: 60)): use password, key, agent, certificate or automatic")
        }
        return method
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ text: String, of type: T.Type, what: String) throws(RouteFormError) -> T
    where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            let names = T.allCases.map(\.rawValue)
            throw RouteFormError("invalid \(what) \(quoted(text, limit: 60)): use \(names.dropLast().joined(separator: ", ")) or \(names.last ?? "")")
        }
        return value
    }
}

/// A change to an existing route as an operator writes it (`switchboard route set`, the admin
/// API's `PATCH /v1/routes/{login}`). A nil field stays as it is.
public struct RouteChangeForm: Sendable, Equatable {
    public var host: String?
    public var port: String?
    public var upstreamUser: String?
    public var enabled: Bool?
    public var hostKey: String?
    /// Removes the pinned host key.
    public var forgetHostKey = false
    /// strict, accept-new, off, or default (the proxy's policy).
    public var hostKeyPolicy: String?
    public var identityFile: String?
    /// Stops using a mapped private key.
    public var clearIdentityFile = false
    public var forwarding: String?
    public var record: String?
    public var upstreamAuth: String?
    public var principal: String?
    public var certTTL: Int?
    public var priority: Int?
    public var access: AccessForm

    public init(
        host: String? = nil, port: String? = nil, upstreamUser: String? = nil, enabled: Bool? = nil, hostKey: String? = nil,
        forgetHostKey: Bool = false, hostKeyPolicy: String? = nil, identityFile: String? = nil, clearIdentityFile: Bool = false,
        forwarding: String? = nil, record: String? = nil, upstreamAuth: String? = nil, principal: String? = nil,
        certTTL: Int? = nil, priority: Int? = nil, access: AccessForm = AccessForm()
    ) {
        self.host = host
        self.port = port
        self.upstreamUser = upstreamUser
        self.enabled = enabled
        self.hostKey = hostKey
        self.forgetHostKey = forgetHostKey
        self.hostKeyPolicy = hostKeyPolicy
        self.identityFile = identityFile
        self.clearIdentityFile = clearIdentityFile
        self.forwarding = forwarding
        self.record = record
        self.upstreamAuth = upstreamAuth
        self.principal = principal
        self.certTTL = certTTL
        self.priority = priority
        self.access = access
    }

    /// The store's change, checked; the store refuses an empty one.
    public func changes() throws -> RouteChanges {
        if clearIdentityFile && identityFile != nil { throw RouteFormError("clearing the identity file and setting one exclude each other") }
        if forgetHostKey && hostKey != nil { throw RouteFormError("forgetting the host key and pinning one exclude each other") }
        return RouteChanges(
            upstreamHost: try host.map { text throws(RouteStoreError) in try RouteValidation.host(text) },
            upstreamPort: try port.map { text throws(RouteStoreError) in try RouteValidation.port(text) },
            upstreamUser: upstreamUser.map { .some($0) },
            enabled: enabled,
            hostKeyFingerprint: forgetHostKey ? .some(nil) : hostKey.map { .some($0) },
            hostKeyPolicy: try hostKeyPolicy.map { text throws(RouteFormError) -> HostKeyPolicy? in
                text == "default" ? nil : try RouteForm.hostKeyPolicy(parsing: text)
            },
            identityFile: clearIdentityFile ? .some(nil) : try identityFile.map { .some(try Credentials.validatedIdentityFile($0)) },
            forwarding: try forwarding.map(RouteForm.forwarding(parsing:)),
            record: try record.map { text throws(RouteFormError) -> Bool? in try RouteForm.recordFlag(parsing: text) },
            upstreamAuth: try upstreamAuth.map { text throws(RouteFormError) -> UpstreamAuthentication? in
                try RouteForm.upstreamAuth(parsing: text)
            },
            certificatePrincipal: principal.map { .some($0) }, certificateLifetime: certTTL.map { .some($0) },
            access: try access.changes(), matchPriority: priority)
    }
}

/// The access rules of a route as an operator writes them; on a change, the word in each
/// comment turns that rule off again.
public struct AccessForm: Sendable, Equatable {
    /// CIDR ranges, comma-separated; `any`.
    public var allowFrom: String?
    /// Weekly windows; `always`.
    public var schedule: String?
    /// on or off.
    public var scheduleEndsSessions: String?
    /// A date or time; `none`.
    public var validFrom: String?
    public var validUntil: String?
    /// A whole number; `none`.
    public var maxSessions: String?
    /// Channel kinds, comma-separated; `all`.
    public var allow: String?

    public init(
        allowFrom: String? = nil, schedule: String? = nil, scheduleEndsSessions: String? = nil, validFrom: String? = nil,
        validUntil: String? = nil, maxSessions: String? = nil, allow: String? = nil
    ) {
        self.allowFrom = allowFrom
        self.schedule = schedule
        self.scheduleEndsSessions = scheduleEndsSessions
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.maxSessions = maxSessions
        self.allow = allow
    }

    public func changes() throws(RouteStoreError) -> AccessPolicyChanges {
        var changes = AccessPolicyChanges()
        if let allowFrom { changes.allowFrom = allowFrom == "any" ? [] : try AccessPolicy.addressRanges(parsing: allowFrom) }
        if let schedule { changes.schedule = .some(schedule == "always" ? nil : try AccessSchedule(parsing: schedule)) }
        if let scheduleEndsSessions {
            switch scheduleEndsSessions {
            case "on": changes.scheduleEndsSessions = true
            case "off": changes.scheduleEndsSessions = false
            default: throw .invalidPolicy("--schedule-ends-sessions takes on or off")
            }
        }
        if let validFrom { changes.validFrom = .some(validFrom == "none" ? nil : try AccessPolicy.moment(parsing: validFrom)) }
        if let validUntil { changes.validUntil = .some(validUntil == "none" ? nil : try AccessPolicy.moment(parsing: validUntil)) }
        if let maxSessions {
            if maxSessions == "none" {
                changes.maxSessions = .some(nil)
            } else {
                guard let count = Int(maxSessions) else {
                    throw .invalidPolicy("--max-sessions takes a whole number or `none` (got \"\(maxSessions.prefix(20))\")")
                }
                changes.maxSessions = .some(count)
            }
        }
        if let allow { changes.allowedChannels = .some(allow == "all" ? nil : try ChannelKind.set(parsing: allow)) }
        return changes
    }
}

/// A form field that does not fit (a choice not among the allowed ones, fields that exclude
/// each other); the store's own checks throw `RouteStoreError`.
public struct RouteFormError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var code: String { "invalid-route" }
}
