import RouteStore

/// Why a login was refused; logged for the operator, never shown to the client.
enum LoginRejection: String {
    case noRoute = "no-route"
    case routeDisabled = "route-disabled"
    case upstreamDenied = "upstream-denied"
    case keyNotListed = "key-not-listed"
    /// A route exists for the same name in other letter case.
    case caseMismatch = "login-case-mismatch"
    /// The client's certificate was refused (the log line before says why).
    case certificateRefused = "certificate-refused"
    /// The route's `upstream_auth` does not take this method (e.g. a password on a route that
    /// logs in upstream with certificates).
    case methodNotAllowed = "method-not-allowed"
    /// The route's `--allow-from` does not include the client's address.
    case accessSource = "access-source"
}

extension Route {
    /// True if a connection made for `self` may serve a login on `other`: the same upstream,
    /// user, key and policy. The pin may differ only by having been recorded since (trust on
    /// first use pins during the first attempt), never by having changed or been forgotten.
    func leadsToTheSameUpstream(as other: Route) -> Bool {
        login == other.login && upstreamHost == other.upstreamHost && upstreamPort == other.upstreamPort
            && effectiveUpstreamUser == other.effectiveUpstreamUser && identityFile == other.identityFile
            && identityKey == other.identityKey && upstreamAuth == other.upstreamAuth
            && certificatePrincipal == other.certificatePrincipal && certificateLifetime == other.certificateLifetime
            && enabled == other.enabled && hostKeyPolicy == other.hostKeyPolicy
            && (hostKeyFingerprint == other.hostKeyFingerprint || (hostKeyFingerprint == nil && other.hostKeyFingerprint != nil))
    }
}
