import Foundation
import Logging
import RouteStore
import SSH

/// An authenticated upstream connection for a route: what a successful login produces.
struct UpstreamLink {
    let route: Route
    let session: SSHSession
}

/// Decides client logins for one connection. A login succeeds only if the routed upstream
/// accepts the same credential for the route's upstream user. The upstream connection made
/// for a failed attempt is kept for the next attempt on the same route.
final class LoginAuthenticator {
    /// The result of one attempt. The client sees `.rejected` identically whatever its reason.
    enum Outcome {
        case accepted(UpstreamLink)
        case rejected(RejectReason)
        case upstreamUnavailable(Route, UpstreamFailure)
    }

    /// Why a login was refused; logged for the operator, never shown to the client.
    enum RejectReason: String, Error {
        case noRoute = "no-route"
        case routeDisabled = "route-disabled"
        case upstreamDenied = "upstream-denied"
        case keyNotListed = "key-not-listed"
        case noUpstreamCredential = "no-upstream-credential"
        case storeUnavailable = "store-unavailable"
    }

    private let store: any RouteStore
    private let connector: UpstreamConnector
    private var logger: Logger
    /// A connected, not yet authenticated upstream kept between attempts.
    private var pending: (link: UpstreamLink, verdict: HostKeyVerifier.Verdict)?

    init(store: any RouteStore, connector: UpstreamConnector, logger: Logger) {
        self.store = store
        self.connector = connector
        self.logger = logger
    }

    /// Password passthrough: the client's password is offered upstream as the route's user.
    func authenticate(login: String, password: String) -> Outcome {
        let route: Route
        switch lookUp(login) {
        case .success(let found): route = found
        case .failure(let reason): return .rejected(reason)
        }
        return loginUpstream(route) { $0.authenticate(password: password) }
    }

    /// Whether a public key probe should be answered "yes, sign with it": the route exists, is
    /// enabled, and lists the key. Reveals nothing to a client that does not hold a listed key.
    func wouldAccept(login: String, key: PublicKey) -> Bool {
        guard case .success = lookUp(login) else { return false }
        return (try? store.isKeyListed(key.fingerprint, for: login)) ?? false
    }

    /// A client that proved it holds a listed key logs in upstream with the route's mapped key.
    func authenticate(login: String, verifiedKey key: PublicKey) -> Outcome {
        let route: Route
        switch lookUp(login) {
        case .success(let found): route = found
        case .failure(let reason): return .rejected(reason)
        }
        guard (try? store.isKeyListed(key.fingerprint, for: login)) == true else { return .rejected(.keyNotListed) }
        guard let identity = route.identityFile else { return .rejected(.noUpstreamCredential) }
        return loginUpstream(route) { $0.authenticate(privateKeyAt: identity) }
    }

    /// Connects (or reuses the connection) to the route's upstream and runs `attempt` on it.
    private func loginUpstream(_ route: Route, attempt: (SSHSession) -> SSHSession.AuthResult) -> Outcome {
        let session: SSHSession
        let verdict: HostKeyVerifier.Verdict
        switch upstreamSession(for: route) {
        case .success(let connected): (session, verdict) = connected
        case .failure(let failure): return .upstreamUnavailable(route, failure)
        }
        switch attempt(session) {
        case .success:
            pending = nil
            if case .pinOnSuccess(let fingerprint) = verdict { pinOnFirstUse(route, fingerprint) }
            return .accepted(UpstreamLink(route: route, session: session))
        case .denied, .partial:
            return .rejected(.upstreamDenied)
        case .error(let text):
            pending = nil
            return .upstreamUnavailable(route, .authenticationError(text))
        }
    }

    /// Reads the route at each attempt, so edits apply to the next login without a restart.
    private func lookUp(_ login: String) -> Result<Route, RejectReason> {
        let route: Route?
        do {
            route = try store.route(for: login)
        } catch {
            logger.error("route lookup failed", metadata: ["error": "\(error)"])
            return .failure(.storeUnavailable)
        }
        guard let route else { return .failure(.noRoute) }
        guard route.enabled else { return .failure(.routeDisabled) }
        return .success(route)
    }

    private func upstreamSession(for route: Route) -> Result<(SSHSession, HostKeyVerifier.Verdict), UpstreamFailure> {
        if let pending, pending.link.route == route, pending.link.session.isAlive {
            return .success((pending.link.session, pending.verdict))
        }
        pending = nil
        do {
            let (session, verdict) = try connector.connect(to: route, logger: logger)
            pending = (UpstreamLink(route: route, session: session), verdict)
            return .success((session, verdict))
        } catch {
            return .failure(error)
        }
    }

    /// Trust on first use: the key seen at the first successful login becomes the route's pin.
    private func pinOnFirstUse(_ route: Route, _ fingerprint: String) {
        do {
            if try store.pinHostKeyIfUnpinned(login: route.login, fingerprint: fingerprint) {
                logger.notice("pinned upstream host key (trust on first use)", metadata: ["upstream.hostkey": "\(fingerprint)"])
            }
        } catch {
            logger.error("cannot pin upstream host key", metadata: ["error": "\(error)"])
        }
    }
}
