import Foundation
import RouteStore

/// JSON as the admin CLI prints it and the admin API serves it: snake_case keys, ISO 8601
/// dates, sorted keys, slashes unescaped.
public enum AdminJSON {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}

/// The JSON shape of a route: `route list --json`, `route show --json` and the admin API.
public struct RouteRecord: Encodable, Sendable {
    let login: String
    let upstreamHost: String
    let upstreamPort: Int
    let upstreamUser: String?
    let effectiveUpstreamUser: String
    let enabled: Bool
    let hostKeyFingerprint: String?
    let hostKeyPolicy: String?
    let identityFile: String?
    let upstreamAuth: String?
    let certificatePrincipal: String?
    let certificateLifetime: Int?
    let forwarding: String
    let allowFrom: [String]?
    let schedule: String?
    let scheduleEndsSessions: Bool
    let validFrom: Date?
    let validUntil: Date?
    let maxSessions: Int?
    let allow: String?
    let catchAll: Bool
    /// A pattern route's regular expression and priority.
    let pattern: String?
    let priority: Int?
    let createdAt: Date
    let updatedAt: Date

    public init(_ route: Route) {
        login = route.login
        upstreamHost = route.upstreamHost
        upstreamPort = route.upstreamPort
        upstreamUser = route.upstreamUser
        effectiveUpstreamUser = route.effectiveUpstreamUser
        enabled = route.enabled
        hostKeyFingerprint = route.hostKeyFingerprint
        hostKeyPolicy = route.hostKeyPolicy?.rawValue
        identityFile = route.identityFile
        upstreamAuth = route.upstreamAuth?.rawValue
        certificatePrincipal = route.upstreamAuth == .certificate ? route.effectiveCertificatePrincipal : route.certificatePrincipal
        certificateLifetime = route.upstreamAuth == .certificate ? route.effectiveCertificateLifetime : route.certificateLifetime
        forwarding = (route.forwarding ?? .all).rawValue
        allowFrom = route.access.allowFrom.isEmpty ? nil : route.access.allowFrom.map(\.description)
        schedule = route.access.schedule?.description
        scheduleEndsSessions = route.access.scheduleEndsSessions
        validFrom = route.access.validFrom
        validUntil = route.access.validUntil
        maxSessions = route.access.maxSessions
        allow = route.access.allowedChannels.map(ChannelKind.text(of:))
        catchAll = route.isCatchAll
        pattern = route.patternSource
        priority = route.matchPriority
        createdAt = route.createdAt
        updatedAt = route.updatedAt
    }
}

/// The JSON shape of a client key: `key list --json` and the admin API.
public struct KeyRecord: Encodable, Sendable {
    let type: String
    let fingerprint: String
    let comment: String
    let createdAt: Date

    public init(_ key: ClientKey) {
        type = key.keyType
        fingerprint = key.fingerprint
        comment = key.comment
        createdAt = key.createdAt
    }
}
