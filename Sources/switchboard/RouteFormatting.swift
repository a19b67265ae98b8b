import Foundation
import Proxy
import RouteStore

/// How the admin CLI prints routes for people and for scripts.
enum RouteFormatting {
    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try AdminJSON.encode(value, pretty: true), as: UTF8.self)
    }

    static func table(_ routes: [Route]) -> String {
        let header = ["LOGIN", "UPSTREAM", "UPSTREAM USER", "ENABLED", "HOST KEY"]
        let rows = routes.map {
            [displayName($0), $0.upstreamAddress,
             $0.servesManyLogins && $0.upstreamUser == nil ? "(the login name)" : $0.effectiveUpstreamUser,
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

    /// A route's login as lists show it: the catch-all and pattern routes say what they are.
    static func displayName(_ route: Route) -> String {
        if route.isCatchAll { return "* (catch-all)" }
        if route.isPattern { return "\(route.login) (pattern, priority \(route.matchPriority ?? 0))" }
        return route.login
    }

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
            login:           \(route.isCatchAll ? "* (catch-all: every login without a route of its own)" : route.patternSource.map { "\(route.login) (pattern: logins without a route of their own that match \($0) whole; priority \(route.matchPriority ?? 0))" } ?? route.login)
            upstream:        \(route.upstreamAddress)
            upstream user:   \(route.effectiveUpstreamUser)\(route.upstreamUser == nil ? " (same as login)" : "")
            enabled:         \(route.enabled ? "yes" : "no")
            host key:        \(route.hostKeyFingerprint ?? "not pinned")
            host key policy: \(route.hostKeyPolicy?.rawValue ?? "proxy default")
            identity file:   \(route.identityFile ?? (route.identityKey != nil ? "kept in the database (encrypted)" : "none"))
            upstream auth:   \(upstreamAuth(route))
            forwarding:      \((route.forwarding ?? .all).rawValue)
            allow from:      \(route.access.allowFrom.isEmpty ? "anywhere" : route.access.allowFrom.map(\.description).joined(separator: ","))
            schedule:        \(route.access.schedule.map { "\($0.summary)\(route.access.scheduleEndsSessions ? ", ends live sessions" : "")" } ?? "always")
            valid:           \(route.access.validFrom.map { "from \(dates.string(from: $0)) " } ?? "")\(route.access.validUntil.map { "until \(dates.string(from: $0))" } ?? (route.access.validFrom == nil ? "always" : "on"))
            max sessions:    \(route.access.maxSessions.map(String.init) ?? "no limit")
            allow:           \(route.access.allowedChannels.map(ChannelKind.text(of:)) ?? "all (within forwarding)")
            recording:       \(route.record.map { $0 ? "on" : "off" } ?? "default (when serve has --record-dir)")
            created:         \(dates.string(from: route.createdAt))
            updated:         \(dates.string(from: route.updatedAt))
            """
    }

    static func explanation(_ explanation: RouteExplanation) -> String {
        let dates = ISO8601DateFormatter()
        guard let route = explanation.route else {
            return """
                login:    \(explanation.login)
                route:    none serves it
                verdict:  refused (\(explanation.verdict)): the user sees "Permission denied", as for a wrong password
                """
        }
        var lines = [
            "login:          \(explanation.login) (\(explanation.servedBy == "catch-all" ? "served by the catch-all route" : explanation.servedBy == "pattern" ? "served by the pattern route \(route)" : "its own route \(route)"))",
            "upstream:       \(explanation.upstreamUser ?? "?")@\(explanation.upstream ?? "?")",
            "authentication: \(explanation.upstreamAuth ?? "automatic")\(explanation.certificatePrincipal.map { " (certificate for principal \($0))" } ?? "")",
            "at:             \(dates.string(from: explanation.at))\(explanation.from.map { " from \($0)" } ?? "")",
            "sessions may use: \(explanation.allowedChannels ?? "all") (forwarding \(explanation.forwarding ?? "all"))",
        ]
        if explanation.checks.isEmpty {
            lines.append("checks:         none (no access rule is on)")
        } else {
            lines.append("checks:")
            lines.append(columns(header: ["  RULE", "VERDICT", "DETAIL"], rows: explanation.checks.map { ["  " + $0.rule, $0.verdict, $0.detail] }))
        }
        lines.append("verdict:        \(explanation.verdict == "allowed" ? "allowed" : "refused (\(explanation.verdict))")")
        return lines.joined(separator: "\n")
    }
}
