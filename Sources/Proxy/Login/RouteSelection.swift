import RouteStore
import Synchronization

/// Which route serves a login: its own; else the first pattern route (by priority) that matches
/// it whole; else the catch-all route ("*"); the last two only for a name a client may use
/// upstream. Logins and `route explain` both decide here.
enum RouteSelection {
    /// How a route came to serve a login.
    enum Source: String, Sendable {
        /// The login's own route.
        case own
        /// A pattern route that matched the login.
        case pattern
        /// The catch-all route, serving a login without one.
        case catchAll = "catch-all"
    }

    /// Patterns compiled once per process (a route's pattern never changes: it is its login).
    private static let compiled = Mutex<[String: RoutePattern]>([:])

    private static func pattern(_ source: String) -> RoutePattern? {
        if let known = compiled.withLock({ $0[source] }) { return known }
        guard let pattern = try? RoutePattern(source) else { return nil }
        compiled.withLock { cache in
            if cache.count >= 10_000 { cache.removeAll() }
            cache[source] = pattern
        }
        return pattern
    }

    enum Result {
        case route(Route, Source)
        case refused(LoginRejection)
    }

    static func select(_ login: String, in routes: any RouteLookup) throws(RouteStoreError) -> Result {
        // "*" names the catch-all route in the table and "~…" a pattern route: they are nobody's
        // login, and every real route's login passed the same name rules when it was written.
        guard RouteValidation.isValidLogin(login) else { return .refused(.noRoute) }
        let route: Route
        let source: Source
        if let own = try routes.route(for: login) {
            (route, source) = (own, .own)
        } else if try routes.hasRoute(differingOnlyInCaseFrom: login) {
            // `ALICE` must not reach the catch-all while `alice` is disabled or keyed: many
            // upstreams match user names without regard to case.
            return .refused(.caseMismatch)
        } else if let (matched, captures) = try firstPatternRoute(matching: login, in: routes) {
            let serving = matched.servingPattern(for: login, captures: captures)
            // A template can make a name OpenSSH or libssh would refuse (an empty group, a
            // leading '-'): no upstream login is tried with it.
            guard RouteValidation.isValidLogin(serving.effectiveUpstreamUser) else { return .refused(.noRoute) }
            (route, source) = (serving, .pattern)
        } else if let catchAll = try routes.route(for: Route.catchAllLogin) {
            (route, source) = (catchAll.servingCatchAll(for: login), .catchAll)
        } else {
            return .refused(.noRoute)
        }
        guard route.enabled else { return .refused(.routeDisabled) }
        return .route(route, source)
    }

    /// The first pattern route whose pattern matches `login` whole, with its groups. A disabled
    /// one still matches (and refuses), as a disabled login route does: disabling a pattern never
    /// hands its logins to the catch-all route.
    private static func firstPatternRoute(matching login: String, in routes: any RouteLookup) throws(RouteStoreError) -> (Route, [String])? {
        for route in try routes.patternRoutes() {
            guard let source = route.patternSource, let pattern = pattern(source), let captures = pattern.captures(of: login) else { continue }
            return (route, captures)
        }
        return nil
    }
}
