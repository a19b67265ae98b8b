import RouteStore

/// Decides whether an upstream's host key may be trusted for a route: pinned keys must match,
/// unpinned ones follow the route's policy (or the proxy's default).
struct HostKeyVerifier {
    let defaultPolicy: HostKeyPolicy

    /// What a login may do with a key that passed.
    enum Verdict: Equatable {
        /// The key matches the route's pin.
        case pinned
        /// No pin yet and the policy is accept-new: pin this key now, before any credential is
        /// sent to the upstream.
        case pinOnSuccess(String)
        /// The policy is off: the key was not checked.
        case unchecked(String)
    }

    func policy(for route: Route) -> HostKeyPolicy { route.hostKeyPolicy ?? defaultPolicy }

    func verify(_ fingerprint: String, for route: Route) throws(UpstreamFailure) -> Verdict {
        let policy = policy(for: route)
        if policy == .off { return .unchecked(fingerprint) }
        if let pinned = route.hostKeyFingerprint {
            guard pinned == fingerprint else { throw .hostKeyChanged(expected: pinned, actual: fingerprint) }
            return .pinned
        }
        guard policy == .acceptNew else { throw .hostKeyNotPinned(actual: fingerprint) }
        return .pinOnSuccess(fingerprint)
    }
}
