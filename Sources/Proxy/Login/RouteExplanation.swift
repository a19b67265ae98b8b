import Foundation
import RouteStore

/// `switchboard route explain`: which route would serve a login, how it would log in upstream,
/// and each access rule's verdict — decided by the code logins use (`RouteSelection`,
/// `AccessCheck`), so that what it says is what a login gets.
public struct RouteExplanation: Encodable, Sendable {
    /// One rule's verdict.
    public struct Check: Encodable, Sendable {
        /// The rule, as logs and metrics name it (`access-source`, …).
        public let rule: String
        /// `allowed`, `refused`, or `not-checked` (the source rule without `--from`).
        public let verdict: String
        public let detail: String
    }

    public let login: String
    public let at: Date
    public let from: String?
    /// The route's login (`*` for the catch-all route), if one serves it.
    public let route: String?
    /// `own` or `catch-all`; nil when no route serves the login.
    public let servedBy: String?
    public let upstream: String?
    public let upstreamUser: String?
    /// `password`, `key`, `agent`, `certificate` or `automatic`.
    public let upstreamAuth: String?
    public let certificatePrincipal: String?
    public let checks: [Check]
    /// What sessions may use, or `all` (within the forwarding policy).
    public let allowedChannels: String?
    public let forwarding: String?
    /// `allowed`, or the reason the login would be refused (`no-route`, `access-schedule`, …).
    public let verdict: String

    /// Explains a login of `login` from `from` (an address; nil leaves the source rule
    /// unchecked) at `at`.
    public static func explain(
        login: String, from: String?, at: Date, store: some RouteLookup & SessionCounting
    ) throws(RouteStoreError) -> RouteExplanation {
        let route: Route
        let source: RouteSelection.Source
        switch try RouteSelection.select(login, in: store) {
        case .refused(let reason):
            return RouteExplanation(
                login: login, at: at, from: from, route: nil, servedBy: nil, upstream: nil, upstreamUser: nil, upstreamAuth: nil,
                certificatePrincipal: nil, checks: [], allowedChannels: nil, forwarding: nil, verdict: reason.rawValue)
        case .route(let selected, let how):
            (route, source) = (selected, how)
        }
        var checks: [Check] = []
        let policy = route.access
        if !policy.allowFrom.isEmpty {
            let ranges = policy.allowFrom.map(\.description).joined(separator: ",")
            if let from {
                let allowed = AccessCheck.allowsSource(policy, host: from)
                checks.append(Check(rule: AccessRule.source.rawValue, verdict: allowed ? "allowed" : "refused",
                                    detail: "\(from) is \(allowed ? "" : "not ")in \(ranges)"))
            } else {
                checks.append(Check(rule: AccessRule.source.rawValue, verdict: "not-checked", detail: "allowed from \(ranges); give --from"))
            }
        }
        for verdict in AccessCheck.timeVerdicts(policy, login: login, at: at) {
            checks.append(Check(rule: verdict.rule.rawValue, verdict: verdict.refusal == nil ? "allowed" : "refused", detail: verdict.detail))
        }
        if let maximum = policy.maxSessions {
            let running = try store.runningSessions(of: login, startedBefore: nil)
            let refused = AccessCheck.sessionLimitRefusal(policy, login: login, runningBefore: running) != nil
            checks.append(Check(rule: AccessRule.maxSessions.rawValue, verdict: refused ? "refused" : "allowed",
                                detail: "\(running) of at most \(maximum) running now"))
        }
        let refusedBy = checks.first { $0.verdict == "refused" }?.rule
        return RouteExplanation(
            login: login, at: at, from: from, route: route.login, servedBy: source.rawValue, upstream: route.upstreamAddress,
            upstreamUser: route.effectiveUpstreamUser, upstreamAuth: route.upstreamAuth?.rawValue ?? "automatic",
            certificatePrincipal: route.upstreamAuth == .certificate ? route.effectiveCertificatePrincipal : nil, checks: checks,
            allowedChannels: policy.allowedChannels.map(ChannelKind.text(of:)) ?? "all", forwarding: (route.forwarding ?? .all).rawValue,
            verdict: refusedBy ?? "allowed")
    }

    /// Refuses a `--from` that is not one IPv4 or IPv6 address (a range, a name, garbage).
    public static func checkSource(_ from: String?) throws(RouteStoreError) {
        if let from, AddressRange(from) == nil || from.contains("/") {
            throw .invalidPolicy("--from takes one IPv4 or IPv6 address (got \"\(from.prefix(60))\")")
        }
    }

    /// The moment `--at` names, or now (the same clock logins use).
    public static func moment(_ text: String?) throws(RouteStoreError) -> Date {
        guard let text else { return AccessClock.now() }
        return try AccessPolicy.moment(parsing: text)
    }
}
