import Logging
import RouteStore
import SSH

/// The upstream connection one client connection's login attempts share: made at the first
/// attempt that needs it, kept while attempts fail (as a direct client keeps its connection),
/// and released once a login succeeds or the connection cannot go on. Making one takes a place
/// among the upstream's logins in progress, checks (and on first use pins) its host key, and
/// asks which methods it takes.
final class UpstreamLoginConnections<Connector: UpstreamConnecting> {
    typealias Session = Connector.Session

    /// A connected upstream waiting for a login: what its host key check said, the methods it
    /// takes, and its place among the upstream's connections still logging in.
    struct Pending {
        let link: UpstreamLink<Session>
        let verdict: HostKeyVerifier.Verdict
        let methods: AuthMethods
        let place: UpstreamStartup
        var session: Session { link.session }
    }

    private let routes: any RouteLookup
    private let connector: Connector
    private let startupPlaces: UpstreamStartupPlaces
    private let logger: Logger
    private var pending: Pending?
    private var untoldContact: UpstreamContact?

    init(routes: any RouteLookup, connector: Connector, startupPlaces: UpstreamStartupPlaces, logger: Logger) {
        self.routes = routes
        self.connector = connector
        self.startupPlaces = startupPlaces
        self.logger = logger
    }

    /// The kept connection, if it leads to `route`'s upstream and is still alive.
    func current(for route: Route) -> Pending? {
        guard let pending, pending.link.route.leadsToTheSameUpstream(as: route), pending.session.isAlive else { return nil }
        return pending
    }

    /// Lets the kept connection go: its login succeeded (the session now belongs to the
    /// relay), or it cannot serve another attempt.
    func release() {
        pending = nil
    }

    /// The connection made since the last call, if one was.
    func takeNewContact() -> UpstreamContact? {
        defer { untoldContact = nil }
        return untoldContact
    }

    /// The connection to `route`'s upstream: the kept one if it leads there and is alive,
    /// else a new one (after a place among the upstream's logins in progress, the handshake,
    /// the host key check and trust on first use, and the `none` request for its methods).
    func session(for route: Route) -> Result<Pending, UpstreamFailure> {
        if let pending = current(for: route) { return .success(pending) }
        pending = nil
        guard let place = startupPlaces.reserve(for: route.upstreamAddress) else {
            ProxyMetrics.upstreamConnectFailed(reason: UpstreamFailure.busy.reason)
            return .failure(.busy)
        }
        do {
            let (session, verdict) = try connector.connect(to: route, logger: logger)
            let trusted = try trustOnFirstUse(verdict, for: route)
            let methods = try askMethods(of: session)
            untoldContact = UpstreamContact(banner: session.issueBanner)
            let upstream = Pending(link: UpstreamLink(route: route, session: session), verdict: trusted, methods: methods, place: place)
            pending = upstream
            return .success(upstream)
        } catch {
            return .failure(error)
        }
    }

    /// The methods the upstream takes, asked with `none` before any credential is tried, so a
    /// client's attempt goes upstream in a form it accepts and never fails for its method alone.
    private func askMethods(of session: Session) throws(UpstreamFailure) -> AuthMethods {
        switch session.askMethods() {
        case .offers(let methods):
            return methods
        case .acceptedWithoutCredentials:
            // Whoever reached this route would be let in whatever they typed.
            ProxyMetrics.upstreamConnectFailed(reason: "authentication")
            throw .authenticationError("the upstream lets anyone in without credentials (method none); refused")
        case .failed(let result):
            throw .authenticationError("the upstream did not say which login methods it takes: \(result)")
        }
    }

    /// Trust on first use, from the first byte: the key an upstream presents at the first key
    /// exchange becomes the route's pin before anything secret (a password, an answer, an agent
    /// signature) is sent to it, whether or not the login then succeeds. When another login
    /// pinned first, its key must be this one. If the pin cannot be written, nothing is sent.
    private func trustOnFirstUse(_ verdict: HostKeyVerifier.Verdict, for route: Route) throws(UpstreamFailure) -> HostKeyVerifier.Verdict {
        guard case .pinOnSuccess(let fingerprint) = verdict else { return verdict }
        do {
            if try routes.pinHostKeyIfUnpinned(login: route.login, fingerprint: fingerprint) {
                logger.notice("pinned upstream host key (trust on first use)", metadata: ["upstream.hostkey": "\(fingerprint)"])
                return .pinned
            }
            let pinned = try routes.route(for: route.login)?.hostKeyFingerprint
            guard let pinned else { throw UpstreamFailure.hostKeyNotRecorded("the route changed while its host key was being pinned") }
            guard pinned == fingerprint else {
                ProxyMetrics.upstreamConnectFailed(reason: "host-key-mismatch")
                throw UpstreamFailure.hostKeyChanged(expected: pinned, actual: fingerprint)
            }
            return .pinned
        } catch let failure as UpstreamFailure {
            throw failure
        } catch {
            logger.error("cannot pin upstream host key", metadata: ["error": "\(error)"])
            ProxyMetrics.upstreamConnectFailed(reason: "host-key-not-recorded")
            throw UpstreamFailure.hostKeyNotRecorded("\(error)")
        }
    }
}

/// A connection made to an upstream that the client connection has not heard of yet.
struct UpstreamContact: Equatable {
    /// Its pre-login banner (sshd's `Banner`), if it sent one.
    let banner: String?
}
