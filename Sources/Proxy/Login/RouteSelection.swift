import RouteStore

/// Which route serves a login: its own, else the catch-all route ("*") if the name is one a
/// client may use upstream. Logins and `route explain` both decide here.
enum RouteSelection {
    /// How a route came to serve a login.
    enum Source: String, Sendable {
        /// The login's own route.
        case own
        /// The catch-all route, serving a login without one.
        case catchAll = "catch-all"
    }

    enum Result {
        case route(Route, Source)
        case refused(LoginRejection)
    }

    static func select(_ login: String, in routes: any RouteLookup) throws(RouteStoreError) -> Result {
        // "*" names the catch-all route in the table; it is nobody's login.
        guard login != Route.catchAllLogin else { return .refused(.noRoute) }
        let route: Route
        let source: Source
        if let own = try routes.route(for: login) {
            (route, source) = (own, .own)
        } else if try routes.hasRoute(differingOnlyInCaseFrom: login) {
            // `ALICE` must not reach the catch-all while `alice` is disabled or keyed: many
            // upstreams match user names without regard to case.
            return .refused(.caseMismatch)
        } else if RouteValidation.isValidLogin(login), let catchAll = try routes.route(for: Route.catchAllLogin) {
            (route, source) = (catchAll.servingCatchAll(for: login), .catchAll)
        } else {
            return .refused(.noRoute)
        }
        guard route.enabled else { return .refused(.routeDisabled) }
        return .route(route, source)
    }
}
