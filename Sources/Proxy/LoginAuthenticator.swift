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
        /// The client proved it holds a listed key and the route has no mapped key: the
        /// upstream is connected but logs in later, through the client's forwarded agent.
        case acceptedPendingAgent(UpstreamLink, HostKeyVerifier.Verdict)
        case rejected(RejectReason)
        case upstreamUnavailable(Route, UpstreamFailure)
    }

    /// Why a login was refused; logged for the operator, never shown to the client.
    enum RejectReason: String, Error {
        case noRoute = "no-route"
        case routeDisabled = "route-disabled"
        case upstreamDenied = "upstream-denied"
        case keyNotListed = "key-not-listed"
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
        guard case .success(let route) = lookUp(login) else { return false }
        return (try? store.isKeyListed(key.fingerprint, for: route.login)) ?? false
    }

    /// A client that proved it holds a listed key logs in upstream with the route's mapped key.
    func authenticate(login: String, verifiedKey key: PublicKey) -> Outcome {
        let route: Route
        switch lookUp(login) {
        case .success(let found): route = found
        case .failure(let reason): return .rejected(reason)
        }
        guard (try? store.isKeyListed(key.fingerprint, for: route.login)) == true else { return .rejected(.keyNotListed) }
        if let identity = route.identityFile {
            return loginUpstream(route) { $0.authenticate(privateKeyAt: identity) }
        }
        switch upstreamSession(for: route) {
        case .success(let (session, verdict)):
            pending = nil
            return .acceptedPendingAgent(UpstreamLink(route: route, session: session), verdict)
        case .failure(let failure):
            return .upstreamUnavailable(route, failure)
        }
    }

    /// Records the result of a login made through the client's agent; true if it succeeded.
    func finishAgentLogin(_ link: UpstreamLink, verdict: HostKeyVerifier.Verdict, result: SSHSession.AuthResult) -> Bool {
        guard case .success = result else {
            ProxyMetrics.upstreamConnectFailed(reason: "authentication")
            logger.info("login refused", metadata: ["auth.method": "agent", "reason": "\(RejectReason.upstreamDenied.rawValue)"])
            return false
        }
        if case .pinOnSuccess(let fingerprint) = verdict { pinOnFirstUse(link.route, fingerprint) }
        logger.info("upstream login through the client's agent", metadata: ["upstream.user": "\(link.route.effectiveUpstreamUser)"])
        return true
    }

    /// What comes next in a keyboard-interactive exchange.
    enum KeyboardInteractiveNext {
        /// Show these questions to the client and pass its answers to `continueKeyboardInteractive`.
        case ask(KeyboardInteractiveChallenge)
        case done(Outcome)
    }

    /// Who the client's keyboard-interactive answers go to.
    private enum Conversation {
        /// The routed upstream, which asked the last questions.
        case upstream(Route)
        /// No usable route: the client is asked for a password like anywhere else and then
        /// refused, so it cannot tell a missing route from a wrong answer.
        case decoy(RejectReason)
    }

    private var conversation: Conversation?

    /// What a client sees when its login has no usable route: the prompt OpenSSH's PAM shows.
    private static let decoyChallenge = KeyboardInteractiveChallenge(
        name: "", instruction: "", prompts: [KeyboardInteractivePrompt(text: "Password: ", echo: false)])

    /// Starts keyboard-interactive passthrough: the upstream's questions go to the client.
    func startKeyboardInteractive(login: String) -> KeyboardInteractiveNext {
        conversation = nil
        let route: Route
        switch lookUp(login) {
        case .success(let found): route = found
        case .failure(let reason):
            conversation = .decoy(reason)
            return .ask(Self.decoyChallenge)
        }
        switch upstreamSession(for: route) {
        case .success(let (session, verdict)):
            return keyboardInteractiveStep(route, session, verdict, answers: nil)
        case .failure(let failure):
            return .done(.upstreamUnavailable(route, failure))
        }
    }

    /// Passes the client's answers upstream and returns the upstream's next questions or verdict.
    func continueKeyboardInteractive(answers: [String]) -> KeyboardInteractiveNext {
        switch conversation {
        case .decoy(let reason):
            conversation = nil
            return .done(.rejected(reason))
        case .upstream(let route):
            guard let pending, pending.link.route == route, pending.link.session.isAlive else {
                conversation = nil
                return .done(.rejected(.upstreamDenied))
            }
            return keyboardInteractiveStep(route, pending.link.session, pending.verdict, answers: answers)
        case nil:
            return .done(.rejected(.upstreamDenied))
        }
    }

    private func keyboardInteractiveStep(
        _ route: Route, _ session: SSHSession, _ verdict: HostKeyVerifier.Verdict, answers: [String]?
    ) -> KeyboardInteractiveNext {
        switch session.keyboardInteractive(answers: answers) {
        case .challenge(let challenge):
            conversation = .upstream(route)
            return .ask(challenge)
        case .finished(let result):
            conversation = nil
            return .done(outcome(of: result, route: route, session: session, verdict: verdict))
        }
    }

    /// Connects (or reuses the connection) to the route's upstream and runs `attempt` on it.
    private func loginUpstream(_ route: Route, attempt: (SSHSession) -> SSHSession.AuthResult) -> Outcome {
        switch upstreamSession(for: route) {
        case .success(let (session, verdict)):
            return outcome(of: attempt(session), route: route, session: session, verdict: verdict)
        case .failure(let failure):
            return .upstreamUnavailable(route, failure)
        }
    }

    /// Turns the upstream's answer to a login attempt into the client's outcome.
    private func outcome(
        of result: SSHSession.AuthResult, route: Route, session: SSHSession, verdict: HostKeyVerifier.Verdict
    ) -> Outcome {
        switch result {
        case .success:
            pending = nil
            if case .pinOnSuccess(let fingerprint) = verdict { pinOnFirstUse(route, fingerprint) }
            return .accepted(UpstreamLink(route: route, session: session))
        case .denied, .partial:
            ProxyMetrics.upstreamConnectFailed(reason: "authentication")
            return .rejected(.upstreamDenied)
        case .error(let text):
            pending = nil
            return .upstreamUnavailable(route, .authenticationError(text))
        }
    }

    /// Reads the route at each attempt, so edits apply to the next login without a restart.
    /// The login's own route, else the catch-all route ("*") serving it, if the name is one a
    /// client may use upstream.
    private func lookUp(_ login: String) -> Result<Route, RejectReason> {
        let route: Route?
        do {
            if let own = try store.route(for: login) {
                route = own
            } else if (try? RouteValidation.login(login)) != nil, let catchAll = try store.route(for: Route.catchAllLogin) {
                route = catchAll.servingCatchAll(for: login)
            } else {
                route = nil
            }
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

extension LoginAuthenticator.Outcome {
    /// The `result` label of the authentications metric.
    var metricResult: String {
        switch self {
        case .accepted, .acceptedPendingAgent: "accepted"
        case .rejected: "rejected"
        case .upstreamUnavailable: "upstream-unavailable"
        }
    }
}
