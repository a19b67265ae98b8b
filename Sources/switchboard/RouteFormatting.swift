import Foundation
import RouteStore

/// The JSON shape of a route printed by `route list --json` and `route show --json`.
struct RouteRecord: Encodable {
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
    let catchAll: Bool
    let createdAt: Date
    let updatedAt: Date

    init(_ route: Route) {
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
        catchAll = route.isCatchAll
        createdAt = route.createdAt
        updatedAt = route.updatedAt
    }
}

/// How the admin CLI prints routes for people and for scripts.
enum RouteFormatting {
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func table(_ routes: [Route]) -> String {
        let header = ["LOGIN", "UPSTREAM", "UPSTREAM USER", "ENABLED", "HOST KEY"]
        let rows = routes.map {
            [$0.isCatchAll ? "* (catch-all)" : $0.login, $0.upstreamAddress,
             $0.isCatchAll && $0.upstreamUser == nil ? "(the login name)" : $0.effectiveUpstreamUser,
             $0.enabled ? "yes" : "no", $0.hostKeyFingerprint ?? "-"]
        }
        return columns(header: header, rows: rows)
    }

    /// Aligns `rows` under `header` in space-separated columns.
    static func columns(header: [String], rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func date(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// How a route logs in upstream, in words.
    static func upstreamAuth(_ route: Route) -> String {
        switch route.upstreamAuth {
        case nil: "automatic (password and keyboard-interactive pass through; key clients use the route's key, else their agent)"
        case .password?: "password (the client's password or answers pass through; key clients are refused)"
        case .key?: "key (the route's own key, for clients with a listed key or a client certificate)"
        case .agent?: "agent (the client's own key through its forwarded agent, ssh -A)"
        case .certificate?: """
            certificate (a fresh key and a certificate for principal \(route.effectiveCertificatePrincipal), \
            valid \(route.effectiveCertificateLifetime) s, per login)
            """
        }
    }

    static func details(_ route: Route) -> String {
        let dates = ISO8601DateFormatter()
        return """
            login:           \(route.isCatchAll ? "* (catch-all: every login without a route of its own)" : route.login)
            upstream:        \(route.upstreamAddress)
            upstream user:   \(route.effectiveUpstreamUser)\(route.upstreamUser == nil ? " (same as login)" : "")
            enabled:         \(route.enabled ? "yes" : "no")
            host key:        \(route.hostKeyFingerprint ?? "not pinned")
            host key policy: \(route.hostKeyPolicy?.rawValue ?? "proxy default")
            identity file:   \(route.identityFile ?? (route.identityKey != nil ? "kept in the database (encrypted)" : "none"))
            upstream auth:   \(upstreamAuth(route))
            forwarding:      \((route.forwarding ?? .all).rawValue)
            recording:       \(route.record.map { $0 ? "on" : "off" } ?? "default (when serve has --record-dir)")
            created:         \(dates.string(from: route.createdAt))
            updated:         \(dates.string(from: route.updatedAt))
            """
    }
}
