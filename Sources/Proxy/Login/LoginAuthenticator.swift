import Logging
import RouteStore
import SSH

/// Decides client logins for one connection. A login succeeds only if the routed upstream
/// accepts the same credential for the route's upstream user. The upstream connection made
/// for a failed attempt is kept for the next attempt on the same route.
final class LoginAuthenticator<Connector: UpstreamConnecting> {
    typealias Session = Connector.Session
    typealias Pending = UpstreamLoginConnections<Connector>.Pending

    /// The result of one attempt. The client sees `.rejected` identically whatever its reason.
    enum Outcome {
        case accepted(UpstreamLink<Session>)
        /// The client proved it holds a listed key and the route has no mapped key: the
        /// upstream is connected but logs in later, through the client's forwarded agent.
        case acceptedPendingAgent(UpstreamLink<Session>, HostKeyVerifier.Verdict)
        case rejected(LoginRejection)
        /// The upstream refused by hanging up, with this reason (OpenSSH at its MaxAuthTries).
        case upstreamHungUp(String)
        case upstreamUnavailable(Route, UpstreamFailure)
        /// The routing table could not be read: nobody can be let in or refused fairly.
        case storeUnavailable
    }

    /// The answer to a public key probe ("would you accept this key?").
    enum ProbeAnswer: Equatable {
        case accept
        case refuse
        case storeUnavailable
    }

    private let routes: any RouteLookup
    private let logger: Logger
    /// The upstream connection this client's attempts share.
    private let upstreams: UpstreamLoginConnections<Connector>

    /// Whether a password, keyboard-interactive answers or the client's agent may go to an
    /// upstream whose host key was not checked (policy off): only if the operator said so.
    private let sendsCredentialsUnverified: Bool
    /// Opens route keys kept in a shared store (`nil`: this node has no cluster secret).
    private let storedKeys: StoredRouteKeys?
    /// What certificate logins need: the client's address, the CAs, the proxy's egress ranges.
    private let certificates: CertificateContext?
    /// The client's address, for routes that allow logins only from some (`--allow-from`);
    /// nil refuses every such route.
    private let clientHost: String?

    /// Client certificates and upstream certificates for one connection.
    struct CertificateContext {
        /// The client's address (from the PROXY header behind a load balancer).
        let client: HostPort
        let clientCertificates: ClientCertificates
        let upstreamCertificates: UpstreamCertificates
        /// Written into upstream certificates as `source-address` when not empty.
        let sourceAddresses: [AddressRange]
    }

    init(
        routes: any RouteLookup, connector: Connector, startupPlaces: UpstreamStartupPlaces = .unlimited,
        sendsCredentialsUnverified: Bool = false, storedKeys: StoredRouteKeys? = nil, certificates: CertificateContext? = nil,
        clientHost: String? = nil, logger: Logger
    ) {
        self.routes = routes
        self.clientHost = clientHost
        self.storedKeys = storedKeys
        self.certificates = certificates
        self.upstreams = UpstreamLoginConnections(routes: routes, connector: connector, startupPlaces: startupPlaces, logger: logger)
        self.sendsCredentialsUnverified = sendsCredentialsUnverified
        self.logger = logger
    }

    /// Refuses to hand the client's own secrets to an upstream nobody verified.
    private func mayReceiveCredentials(_ verdict: HostKeyVerifier.Verdict) -> Bool {
        if case .unchecked = verdict { return sendsCredentialsUnverified }
        return true
    }

    /// Password passthrough: the client's password is offered upstream as the route's user,
    /// as a password, or as the answer to a keyboard-interactive upstream's one password prompt.
    func authenticate(login: String, password: WireText) -> Outcome {
        let route: Route
        switch lookUp(login) {
        case .found(let found): route = found
        case .refused(let reason): return .rejected(reason)
        case .storeUnavailable: return .storeUnavailable
        }
        guard route.takesClientSecrets else { return .rejected(.methodNotAllowed) }
        return loginUpstream(route, sendsClientCredentials: true) { upstream in
            if upstream.methods.contains(.password) || !upstream.methods.contains(.keyboardInteractive) {
                return upstream.session.authenticate(password: password)
            }
            return answerPasswordPrompt(of: upstream, with: password)
        }
    }

    /// Logs in to a keyboard-interactive upstream with a password: its one question (a prompt
    /// that hides the answer, as PAM's "Password: ") gets the password. An upstream that asks
    /// more (a one-time code) needs the client's own keyboard-interactive login: refused, and
    /// its connection is not kept, as it stands in the middle of a conversation.
    private func answerPasswordPrompt(of upstream: Pending, with password: WireText) -> SSHSession.AuthResult {
        var step = upstream.session.keyboardInteractive(answers: nil)
        var answered = false
        while case .challenge(let challenge) = step {
            guard !answered, challenge.prompts.count == 1, !challenge.prompts[0].echo else {
                upstreams.release()
                return .denied
            }
            answered = true
            step = upstream.session.keyboardInteractive(answers: [password])
        }
        guard case .finished(let result) = step else { return .denied }
        if case .denied = result { upstreams.release() }  // libssh would answer the old questions next
        return result
    }

    /// Whether a public key probe should be answered "yes, sign with it": the route exists, is
    /// enabled, and lists the key. Reveals nothing to a client that does not hold a listed key.
    func answerProbe(login: String, key: PublicKey) -> ProbeAnswer {
        switch lookUp(login) {
        case .found(let route):
            guard route.takesClientKeys else { return .refuse }
            switch authorize(key, login: login, route: route, logsAcceptance: false) {
            case .authorized: return .accept
            case .refused: return .refuse
            case .storeUnavailable: return .storeUnavailable
            }
        case .refused: return .refuse
        case .storeUnavailable: return .storeUnavailable
        }
    }

    /// What to answer a client's `none` request (its question "which methods may I use?").
    enum MethodsAnswer {
        /// The route's upstream was asked: offer these.
        case upstream(AuthMethods)
        /// No usable route: the client gets the decoy's answer.
        case noRoute
        /// The upstream or the routing table cannot be used; the outcome says how to end.
        case unavailable(Outcome)
    }

    /// The methods to offer a client logging in as `login`, as its upstream would: public keys
    /// (checked by the proxy itself) and whichever of password and keyboard-interactive the
    /// route's upstream takes. Connects to the upstream, as the first attempt would.
    func methodsToOffer(login: String) -> MethodsAnswer {
        let route: Route
        switch lookUp(login) {
        case .found(let found): route = found
        case .refused: return .noRoute
        case .storeUnavailable: return .unavailable(.storeUnavailable)
        }
        switch upstreams.session(for: route) {
        case .success(let upstream):
            var methods = upstream.methods.intersection([.password, .keyboardInteractive])
            if !route.takesClientSecrets { methods = [] }
            if route.takesClientKeys { methods.insert(.publicKey) }
            return .upstream(methods)
        case .failure(let failure):
            return .unavailable(.upstreamUnavailable(route, failure))
        }
    }

    /// A client that proved it holds a listed key, or a certificate from a trusted client CA,
    /// logs in upstream as the route says: with a certificate made for this login, with the
    /// route's own key, or through the client's agent. `recordStart` records the session's start
    /// in the audit before a certificate login, whose key id names the audit id.
    func authenticate(login: String, verifiedKey key: PublicKey, recordStart: (Route) -> Int64? = { _ in nil }) -> Outcome {
        let route: Route
        switch lookUp(login) {
        case .found(let found): route = found
        case .refused(let reason): return .rejected(reason)
        case .storeUnavailable: return .storeUnavailable
        }
        guard route.takesClientKeys else { return .rejected(.methodNotAllowed) }
        let permissions: CertificatePermissions
        switch authorize(key, login: login, route: route, logsAcceptance: true) {
        case .authorized(let granted): permissions = granted
        case .refused(let reason): return .rejected(reason)
        case .storeUnavailable: return .storeUnavailable
        }
        let outcome: Outcome = switch route.upstreamAuth {
        case .certificate?: loginWithCertificate(route, login: login, permissions: permissions, recordStart: recordStart)
        case .agent?: loginThroughAgent(route)
        case .key?: loginWithRouteKey(route) ?? .upstreamUnavailable(route, .authenticationError("the route has no key of its own"))
        case nil: loginWithRouteKey(route) ?? loginThroughAgent(route)
        case .password?: .rejected(.methodNotAllowed)
        }
        return outcome.granting(permissions)
    }

    /// A login with the route's own key, or nil if the route has none (or is the catch-all,
    /// whose one key would log in as every name a client types).
    private func loginWithRouteKey(_ route: Route) -> Outcome? {
        guard !route.servesManyLogins else { return nil }
        if let stored = route.identityKey {
            guard let storedKeys else {
                logger.error("the route's key is kept in the database but this node has no cluster secret (--cluster-secret-file)")
                return .upstreamUnavailable(route, .authenticationError("this node has no cluster secret to open the route's key"))
            }
            let key: String
            do {
                key = try storedKeys.openedKey(stored)
            } catch {
                logger.error("cannot open the route's stored key (is the cluster secret the same on every node?)", metadata: [
                    "error": "\(error)",
                ])
                return .upstreamUnavailable(route, .authenticationError("the route's stored key cannot be opened on this node"))
            }
            return loginUpstream(route, sendsClientCredentials: false) { $0.session.authenticate(privateKeyText: key) }
        }
        if let identity = route.identityFile {
            return loginUpstream(route, sendsClientCredentials: false) { $0.session.authenticate(privateKeyAt: identity) }
        }
        return nil
    }

    /// The upstream is connected now; the login itself waits for the client's forwarded agent.
    private func loginThroughAgent(_ route: Route) -> Outcome {
        switch upstreams.session(for: route) {
        case .success(let upstream):
            guard mayReceiveCredentials(upstream.verdict) else { return .upstreamUnavailable(route, .credentialsWithheld) }
            upstreams.release()
            return .acceptedPendingAgent(upstream.link, upstream.verdict)
        case .failure(let failure):
            return .upstreamUnavailable(route, failure)
        }
    }

    /// A login with a fresh key and a certificate the proxy's CA signs for it, naming this login.
    private func loginWithCertificate(
        _ route: Route, login: String, permissions: CertificatePermissions, recordStart: (Route) -> Int64?
    ) -> Outcome {
        guard let certificates else {
            return .upstreamUnavailable(route, .authenticationError("this connection cannot make certificates"))
        }
        let signer: CertificateSigner
        do {
            signer = try certificates.upstreamCertificates.signer()
        } catch {
            logger.error("cannot sign an upstream certificate", metadata: ["error": "\(error.message)"])
            ProxyMetrics.certificateIssued(result: "no-ca")
            return .upstreamUnavailable(route, .authenticationError("the proxy cannot sign certificates"))
        }
        // The audit record is started only for an upstream that answers.
        if case .failure(let failure) = upstreams.session(for: route) { return .upstreamUnavailable(route, failure) }
        let subject = UpstreamCertificates.Subject(
            login: login, client: certificates.client.description, auditID: recordStart(route), permissions: permissions)
        var issued: OpenSSHCertificate?
        let outcome = loginUpstream(route, sendsClientCredentials: false) { upstream in
            upstream.session.authenticate { (key: [UInt8]) throws(SSHError) -> OpenSSHCertificate in
                let certificate = try UpstreamCertificates.certificate(
                    for: route, subject: subject, publicKeyBlob: key, sourceAddresses: certificates.sourceAddresses, signer: signer)
                issued = certificate
                return certificate
            }
        }
        if let issued {
            ProxyMetrics.certificateIssued(result: "issued")
            logger.info("upstream certificate issued", metadata: [
                "cert.serial": "\(issued.serial)", "cert.key_id": "\(issued.keyID)", "cert.principal": "\(route.effectiveCertificatePrincipal)",
                "cert.valid_seconds": "\(route.effectiveCertificateLifetime)",
            ])
        }
        return outcome
    }

    /// How the proxy knows a client that signed with `key`.
    private enum KeyAuthorization {
        /// A listed key (all the route allows) or an accepted certificate (what it permits).
        case authorized(CertificatePermissions)
        case refused(LoginRejection)
        case storeUnavailable
    }

    /// A certificate is checked against the trusted client CAs (its key need not be listed);
    /// a plain key must be listed for the route.
    private func authorize(_ key: PublicKey, login: String, route: Route, logsAcceptance: Bool) -> KeyAuthorization {
        guard key.typeName.hasSuffix("-cert-v01@openssh.com") else {
            switch isListed(key, for: route) {
            case true?: return .authorized(.unrestricted)
            case false?: return .refused(.keyNotListed)
            case nil: return .storeUnavailable
            }
        }
        guard let certificates, let certificate = key.certificate else {
            logger.info("client certificate refused", metadata: ["reason": "certificate-unreadable"])
            ProxyMetrics.clientCertificate(result: "certificate-unreadable")
            return .refused(.certificateRefused)
        }
        switch certificates.clientCertificates.check(certificate, login: login, clientHost: certificates.client.host) {
        case .accepted(let acceptance):
            if logsAcceptance {
                ProxyMetrics.clientCertificate(result: "accepted")
                logger.info("client certificate accepted", metadata: [
                    "cert.ca": "\(acceptance.authority)", "cert.serial": "\(acceptance.serial)", "cert.key_id": "\(Self.printable(acceptance.keyID))",
                ])
            }
            return .authorized(acceptance.permissions)
        case .refused(let reason, let detail):
            ProxyMetrics.clientCertificate(result: reason)
            logger.info("client certificate refused", metadata: [
                "reason": "\(reason)", "detail": "\(Self.printable(detail))", "cert.serial": "\(certificate.serial)",
                "cert.key_id": "\(Self.printable(certificate.keyID))",
            ])
            return .refused(.certificateRefused)
        case .storeUnavailable:
            return .storeUnavailable
        }
    }

    /// Text from a client's certificate, safe for one log line: control characters shown as
    /// `?`, at most 200 characters.
    private static func printable(_ text: String) -> String {
        String(String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) }).prefix(200))
    }

    /// Records the result of a login made through the client's agent; true if it succeeded.
    func finishAgentLogin(_ link: UpstreamLink<Session>, verdict: HostKeyVerifier.Verdict, result: SSHSession.AuthResult) -> Bool {
        guard case .success = result else {
            ProxyMetrics.upstreamConnectFailed(reason: "authentication")
            logger.info("login refused", metadata: ["auth.method": "agent", "reason": "\(LoginRejection.upstreamDenied.rawValue)"])
            return false
        }
        logger.info("upstream login through the client's agent", metadata: ["upstream.user": "\(link.route.effectiveUpstreamUser)"])
        return true
    }

    // MARK: Keyboard-interactive

    /// What comes next in a keyboard-interactive exchange.
    enum KeyboardInteractiveNext {
        /// Show these questions to the client and pass its answers to `continueKeyboardInteractive`.
        /// `fromUpstream` is false when no upstream was contacted (the decoy for a login
        /// without a usable route), whose timing must then look like an upstream's.
        case ask(KeyboardInteractiveChallenge, fromUpstream: Bool)
        case done(Outcome)
    }

    /// Who the client's keyboard-interactive answers go to.
    private enum Conversation {
        /// The routed upstream, which asked the last questions.
        case upstream(Route)
        /// The proxy asked for the password of an upstream that takes passwords but not
        /// keyboard-interactive; the answer goes upstream as a password.
        case passwordForUpstream(Route)
        /// No usable route: the client is asked for a password like anywhere else and then
        /// refused, so it cannot tell a missing route from a wrong answer.
        case decoy(LoginRejection)
    }

    private var conversation: Conversation?

    /// What a client sees when its login has no usable route, or when its upstream takes only
    /// passwords: the prompt OpenSSH's PAM shows.
    static var passwordChallenge: KeyboardInteractiveChallenge {
        KeyboardInteractiveChallenge(name: "", instruction: "", prompts: [KeyboardInteractivePrompt(text: "Password: ", echo: false)])
    }

    /// Starts keyboard-interactive passthrough: the upstream's questions go to the client.
    func startKeyboardInteractive(login: String) -> KeyboardInteractiveNext {
        conversation = nil
        let route: Route
        switch lookUp(login) {
        case .found(let found): route = found
        case .refused(let reason):
            conversation = .decoy(reason)
            return .ask(Self.passwordChallenge, fromUpstream: false)
        case .storeUnavailable:
            return .done(.storeUnavailable)
        }
        guard route.takesClientSecrets else {
            conversation = .decoy(.methodNotAllowed)
            return .ask(Self.passwordChallenge, fromUpstream: false)
        }
        switch upstreams.session(for: route) {
        case .success(let upstream):
            guard mayReceiveCredentials(upstream.verdict) else { return .done(.upstreamUnavailable(route, .credentialsWithheld)) }
            if !upstream.methods.contains(.keyboardInteractive) && upstream.methods.contains(.password) {
                conversation = .passwordForUpstream(route)
                return .ask(Self.passwordChallenge, fromUpstream: true)
            }
            return keyboardInteractiveStep(route, upstream.session, upstream.verdict, answers: nil)
        case .failure(let failure):
            return .done(.upstreamUnavailable(route, failure))
        }
    }

    /// Passes the client's answers upstream and returns the upstream's next questions or verdict.
    func continueKeyboardInteractive(answers: [WireText]) -> KeyboardInteractiveNext {
        switch conversation {
        case .decoy(let reason):
            conversation = nil
            return .done(.rejected(reason))
        case .upstream(let route):
            guard let pending = upstreams.current(for: route) else {
                conversation = nil
                return .done(.rejected(.upstreamDenied))
            }
            return keyboardInteractiveStep(route, pending.session, pending.verdict, answers: answers)
        case .passwordForUpstream(let route):
            conversation = nil
            guard answers.count == 1 else { return .done(.rejected(.upstreamDenied)) }
            return .done(loginUpstream(route, sendsClientCredentials: true) { $0.session.authenticate(password: answers[0]) })
        case nil:
            return .done(.rejected(.upstreamDenied))
        }
    }

    private func keyboardInteractiveStep(
        _ route: Route, _ session: Session, _ verdict: HostKeyVerifier.Verdict, answers: [WireText]?
    ) -> KeyboardInteractiveNext {
        switch session.keyboardInteractive(answers: answers) {
        case .challenge(let challenge):
            conversation = .upstream(route)
            return .ask(challenge, fromUpstream: true)
        case .finished(let result):
            conversation = nil
            return .done(outcome(of: result, route: route, session: session, verdict: verdict))
        }
    }

    // MARK: Upstream

    /// Connects (or reuses the connection) to the route's upstream and runs `attempt` on it.
    private func loginUpstream(_ route: Route, sendsClientCredentials: Bool, attempt: (Pending) -> SSHSession.AuthResult) -> Outcome {
        switch upstreams.session(for: route) {
        case .success(let upstream):
            if sendsClientCredentials && !mayReceiveCredentials(upstream.verdict) { return .upstreamUnavailable(route, .credentialsWithheld) }
            return outcome(of: attempt(upstream), route: route, session: upstream.session, verdict: upstream.verdict)
        case .failure(let failure):
            return .upstreamUnavailable(route, failure)
        }
    }

    /// Turns the upstream's answer to a login attempt into the client's outcome.
    private func outcome(of result: SSHSession.AuthResult, route: Route, session: Session, verdict: HostKeyVerifier.Verdict) -> Outcome {
        switch result {
        case .success:
            upstreams.release()
            return .accepted(UpstreamLink(route: route, session: session))
        case .denied, .partial:
            ProxyMetrics.upstreamConnectFailed(reason: "authentication")
            return .rejected(.upstreamDenied)
        case .error(let text):
            upstreams.release()
            return .upstreamUnavailable(route, .authenticationError(text))
        case .disconnected(let reason):
            // OpenSSH hangs up at its MaxAuthTries: a failed attempt, and the end of this login.
            upstreams.release()
            ProxyMetrics.upstreamConnectFailed(reason: "authentication")
            return .upstreamHungUp(reason)
        }
    }

    /// The upstream connection made since the last call, if one was: its banner is for the
    /// client to see before the answer to its attempt.
    func takeNewUpstreamContact() -> UpstreamContact? { upstreams.takeNewContact() }

    // MARK: Routing table

    private enum Lookup {
        case found(Route)
        case refused(LoginRejection)
        case storeUnavailable
    }

    /// Reads the route at each attempt, so edits apply to the next login without a restart
    /// (`RouteSelection` decides which), then applies the route's source rule.
    private func lookUp(_ login: String) -> Lookup {
        let route: Route
        do {
            switch try RouteSelection.select(login, in: routes) {
            case .route(let selected, _): route = selected
            case .refused(let reason): return .refused(reason)
            }
        } catch {
            logger.error("route lookup failed", metadata: ["reason": "store-unavailable", "error": "\(error)"])
            return .storeUnavailable
        }
        // Refused before anything goes upstream, and like a wrong password: the client cannot
        // tell a route it may not use from here from one that does not exist.
        guard AccessCheck.allowsSource(route.access, host: clientHost ?? "") else { return .refused(.accessSource) }
        return .found(route)
    }

    /// Whether the route lists `key`; nil if the store could not say.
    private func isListed(_ key: PublicKey, for route: Route) -> Bool? {
        do {
            return try routes.isKeyListed(key.fingerprint, for: route.login)
        } catch {
            logger.error("client key lookup failed", metadata: ["reason": "store-unavailable", "error": "\(error)"])
            return nil
        }
    }

}

extension Route {
    /// Whether a client's password or keyboard-interactive answers may log in on this route:
    /// when it logs in upstream with them, or chooses automatically.
    var takesClientSecrets: Bool { upstreamAuth == nil || upstreamAuth == .password }
    /// Whether a client's public key or certificate may log in on this route.
    var takesClientKeys: Bool { upstreamAuth != .password }
}

extension LoginAuthenticator.Outcome {
    /// The same outcome, its session narrowed to what the client's certificate permits.
    func granting(_ permissions: CertificatePermissions) -> Self {
        switch self {
        case .accepted(var link):
            link.permissions = permissions
            return .accepted(link)
        case .acceptedPendingAgent(var link, let verdict):
            link.permissions = permissions
            return .acceptedPendingAgent(link, verdict)
        default:
            return self
        }
    }
}
