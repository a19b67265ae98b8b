import Foundation
import Logging
import RouteStore
import SSH

/// The authenticating phase: each client attempt is tried on the routed upstream, and the
/// client is in only if the upstream accepts it.
extension ClientConnection {
    /// One pass: wait for the client's next requests (up to a second, within the login grace
    /// time), answer them, and return the next state.
    func authenticate(_ attempts: LoginAttempts) -> State {
        var attempts = attempts
        guard client.isAlive else {
            logger.info("client left during authentication")
            return .closing(.loginFailed(.clientLeftDuringLogin), nil)
        }
        let remaining = loginDeadline.timeIntervalSinceNow
        guard remaining > 0 else {
            logger.info("login grace time expired", metadata: ["reason": "login-timeout"])
            return .closing(.loginFailed(.loginTimeout), nil)
        }
        event.poll(timeoutMilliseconds: Int32(min(remaining * 1000, 1000)))
        if services.shutdown.isRequested {
            logger.info("login abandoned: the proxy is shutting down", metadata: ["reason": "shutdown"])
            return .closing(.loginFailed(.shutdown), nil)
        }
        while let message = client.nextMessage() {
            switch message.request {
            case .service:
                message.accept()
            case .authentication(let user, let method):
                switch attemptLogin(login: attempts.login(named: user), method: method, message: message) {
                case .loggedIn(let link, let pendingAgent):
                    return startSession(link, login: attempts.loginName, method: "\(method)", pendingAgent: pendingAgent)
                case .challengeSent:
                    if attempts.recordChallenge() {
                        logger.info("too many keyboard-interactive rounds", metadata: ["reason": "max-auth-tries"])
                        return .closing(.tooManyAuthFailures, nil)
                    }
                case .refused:
                    if attempts.recordRefusal(of: method) {
                        logger.info("too many authentication failures", metadata: ["reason": "max-auth-tries"])
                        return .closing(.tooManyAuthFailures, nil)
                    }
                case .impossible(let end):
                    return .closing(end, nil)
                }
            default:
                message.refuse()
            }
        }
        return .authenticating(attempts)
    }

    /// What one authentication request came to.
    enum AttemptResult {
        /// The client is in; `pendingAgent` is set when the upstream login waits for its agent.
        case loggedIn(UpstreamLink<SSHSession>, pendingAgent: HostKeyVerifier.Verdict?)
        /// A keyboard-interactive round was sent; the client's answers come next.
        case challengeSent
        /// Refused (or a key probe answered); the client may try again.
        case refused
        /// The login cannot be served at all; the client has been told.
        case impossible(ConnectionEnd)
    }

    private func attemptLogin(login: String, method: SSHRequest.AuthAttempt, message: SSHMessage) -> AttemptResult {
        // A ban decided while this connection was open (by its own failures or by others from
        // the same source) ends it at its next attempt, not only the next connection.
        if services.penalties.isBanned(address.host) {
            logger.info("login refused: the source is banned", metadata: ["reason": "banned"])
            message.refuseAuthentication(offering: methodsOffered)
            return .impossible(.loginFailed(.banned))
        }
        // The name comes from the client: log it only if it could be a route name at all, so a
        // crafted name cannot forge log lines.
        logger[metadataKey: "route.user"] = "\(RouteValidation.isValidLogin(login) ? login : "(invalid name)")"
        let started = Date()
        let outcome: LoginAuthenticator<UpstreamConnector>.Outcome
        switch method {
        case .password(let password):
            outcome = authenticator.authenticate(login: login, password: password)
        case .publicKey(let key?, .probe):
            switch authenticator.answerProbe(login: login, key: key) {
            case .accept: message.acceptPublicKeyProbe()
            case .refuse: message.refuseAuthentication(offering: methodsOffered)
            case .storeUnavailable:
                ProxyMetrics.authentication(method: "\(method)", result: "store-unavailable")
                return refuseForStoreFailure(message)
            }
            return .refused
        case .publicKey(let key?, .verified):
            outcome = authenticator.authenticate(login: login, verifiedKey: key) { route in
                auditIDBeforeLogin = recordStart(route: route, login: login, method: "\(method)")
                return auditIDBeforeLogin
            }
            if !outcome.isAccepted { closeAuditBeforeLogin(outcome) }
        case .keyboardInteractive(let answers):
            let next = answers.map { authenticator.continueKeyboardInteractive(answers: $0) }
                ?? authenticator.startKeyboardInteractive(login: login)
            switch next {
            case .ask(let challenge, let fromUpstream):
                return ask(challenge, fromUpstream: fromUpstream, first: answers == nil, since: started, message: message)
            case .done(let result):
                outcome = result
            }
        case .none:
            switch authenticator.methodsToOffer(login: login) {
            case .upstream(let methods):
                return offer(methods, fromUpstream: true, since: started, message: message)
            case .noRoute:
                return offer(services.loginDecoy.methods ?? Self.offeredMethods, fromUpstream: false, since: started, message: message)
            case .unavailable(let unusable):
                outcome = unusable
            }
        default:
            // An invalid signature or a method not offered is simply refused.
            message.refuseAuthentication(offering: methodsOffered)
            return .refused
        }
        ProxyMetrics.authentication(method: "\(method)", result: outcome.metricResult)
        showBanner(reachedUpstream: outcome.reachedUpstream)
        switch outcome.response {
        case .accept(let link, let pendingAgent):
            if let refusal = accessRefusal(link.route, login: login, method: "\(method)") {
                link.session.disconnect()
                return refuse(message, login: login, route: link.route, for: refusal)
            }
            message.acceptAuthentication()
            logger[metadataKey: "upstream.addr"] = "\(link.route.upstreamAddress)"
            if pendingAgent == nil {
                logger.info("login accepted", metadata: ["auth.method": "\(method)", "upstream.user": "\(link.route.effectiveUpstreamUser)"])
            } else {
                logger.info("login accepted; upstream login waits for the client's agent", metadata: ["auth.method": "\(method)"])
            }
            return .loggedIn(link, pendingAgent: pendingAgent)
        case .refuse(let reason):
            if reason == .accessSource { recordSourceRefusal(login: login) }
            countFailure(of: method, reason, since: started)
            message.refuseAuthentication(offering: methodsOffered)
            return .refused
        case .refuseAndEnd(let reason, let disconnectMessage):
            countFailure(of: method, reason, since: started)
            logger.info("the upstream ended the login", metadata: ["reason": "max-auth-tries", "upstream.message": "\(disconnectMessage)"])
            message.dropWithoutReply()
            return .impossible(ConnectionEnd(reason: .tooManyAuthFailures, notice: nil, disconnectMessage: disconnectMessage))
        case .end(let reason, let notice):
            if case .upstreamUnavailable(let route, let failure) = outcome {
                logger.warning("upstream unavailable", metadata: [
                    "upstream.addr": "\(route.upstreamAddress)", "reason": "\(failure.reason)", "error": "\(failure.description)",
                ])
            }
            return refuse(message, telling: notice, reason: reason)
        }
    }

    /// Answers the client's `none` request (its question "which methods may I use?") with
    /// `methods`: its upstream's, or, for a name without a route, those of the upstream asked
    /// last, as late as an upstream answers.
    private func offer(_ methods: AuthMethods, fromUpstream: Bool, since started: Date, message: SSHMessage) -> AttemptResult {
        if fromUpstream {
            services.loginDecoy.record(.methods, Date().timeIntervalSince(started))
            services.loginDecoy.recordMethods(methods)
        } else {
            wait(until: started, plus: services.loginDecoy.typical(.methods) ?? 0)
        }
        methodsOffered = methods
        showBanner(reachedUpstream: fromUpstream)
        message.refuseAuthentication(offering: methodsOffered)
        return .refused
    }

    /// Sends a keyboard-interactive round. The first question of a login without a route comes
    /// as late as an upstream's.
    private func ask(
        _ challenge: KeyboardInteractiveChallenge, fromUpstream: Bool, first: Bool, since started: Date, message: SSHMessage
    ) -> AttemptResult {
        if first {
            if fromUpstream {
                services.loginDecoy.record(.firstQuestion, Date().timeIntervalSince(started))
            } else {
                wait(until: started, plus: services.loginDecoy.typical(.firstQuestion) ?? 0)
            }
        }
        showBanner(reachedUpstream: fromUpstream)
        message.sendKeyboardInteractiveChallenge(challenge)
        return .challengeSent
    }

    /// A refused attempt: logged, counted toward the source's ban, and answered no sooner than
    /// the failure delay, and, when no upstream refused it, after about as long as upstreams
    /// take to refuse.
    private func countFailure(of method: SSHRequest.AuthAttempt, _ reason: LoginRejection, since started: Date) {
        logger.info("login refused", metadata: ["auth.method": "\(method)", "reason": "\(reason.rawValue)"])
        if services.penalties.recordFailure(from: address.host) {
            logger.warning("source banned after repeated failed logins", metadata: [
                "reason": "ban", "ban.seconds": "\(settings[.banTime])",
            ])
        }
        let kind: LoginDecoy.Kind = if case .keyboardInteractive = method { .answersRefusal } else { .passwordRefusal }
        if reason == .upstreamDenied {
            services.loginDecoy.record(kind, Date().timeIntervalSince(started))
            wait(until: started, plus: Self.failedLoginDelay)
        } else {
            wait(until: started, plus: max(Self.failedLoginDelay, services.loginDecoy.typical(kind) ?? 0))
        }
    }

    /// Shows the client the upstream's pre-login banner (its sshd `Banner`) as soon as the
    /// proxy has it, before the answer to the attempt that brought it, as a direct login would.
    /// A login that reached no upstream is shown, once, the banner the last upstream showed, so
    /// that a banner does not tell routed names from others.
    private func showBanner(reachedUpstream: Bool) {
        if let contact = authenticator.takeNewUpstreamContact() {
            services.loginDecoy.recordBanner(contact.banner)
            bannerShown = true
            if let banner = contact.banner { client.sendBanner(banner) }
        } else if !reachedUpstream && !bannerShown {
            bannerShown = true
            if let banner = services.loginDecoy.banner { client.sendBanner(banner) }
        }
    }

    /// The routing table could not be read: the client is told the service is unavailable (not
    /// "permission denied"), and its address is not penalised for the proxy's failure.
    private func refuseForStoreFailure(_ message: SSHMessage) -> AttemptResult {
        refuse(message, telling: serviceUnavailableNotice, reason: .storeUnavailable)
    }

    /// Shows `notice` to the client before the connection closes.
    private func refuse(_ message: SSHMessage, telling notice: String, reason: ConnectionEndReason) -> AttemptResult {
        client.sendBanner(notice + "\r\n")
        message.dropWithoutReply()
        return .impossible(.loginImpossible(reason, message: notice))
    }

    /// A certificate login whose start was recorded but whose upstream login failed: its audit
    /// record ends here, saying why.
    private func closeAuditBeforeLogin(_ outcome: LoginAuthenticator<UpstreamConnector>.Outcome) {
        guard let id = auditIDBeforeLogin else { return }
        auditIDBeforeLogin = nil
        let reason: ConnectionEndReason = switch outcome {
        case .upstreamUnavailable: .upstreamUnavailable
        case .storeUnavailable: .storeUnavailable
        default: .upstreamRefusedCertificate
        }
        recordEnd(auditID: id, reason: reason)
    }

    // MARK: Access rules

    /// The route's time and session-count rules for a login its credentials got into; nil if
    /// they let it in. The session limit needs the session's audit id (of several starting at
    /// once, the earlier count against the later), so its start is recorded first.
    private func accessRefusal(_ route: Route, login: String, method: String) -> AccessCheck.Refusal? {
        if let refusal = AccessCheck.timeRefusal(route.access, login: login, at: AccessClock.now()) { return refusal }
        guard route.access.maxSessions != nil else { return nil }
        if auditIDBeforeLogin == nil { auditIDBeforeLogin = recordStart(route: route, login: login, method: method) }
        do {
            let running = try services.sessionCounts.runningSessions(of: login, startedBefore: auditIDBeforeLogin)
            return AccessCheck.sessionLimitRefusal(route.access, login: login, runningBefore: running)
        } catch {
            // Without the database the count is unknown: the login goes ahead rather than locking
            // everyone out during an outage.
            logger.warning("cannot count the login's sessions; the session limit is not applied", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Ends an authenticated login an access rule refused: logged, counted and recorded in the
    /// audit under the rule's name, and the user told why in plain words.
    private func refuse(_ message: SSHMessage, login: String, route: Route, for refusal: AccessCheck.Refusal) -> AttemptResult {
        logger.info("login refused by the route's access rules", metadata: ["reason": "\(refusal.rule.rawValue)"])
        ProxyMetrics.accessRefused(rule: refusal.rule.rawValue)
        let id = auditIDBeforeLogin ?? recordStart(route: route, login: login, method: "access-refused")
        auditIDBeforeLogin = nil
        if let id { recordEnd(auditID: id, reason: refusal.rule.endReason) }
        return refuse(message, telling: "switchboard: \(refusal.message)", reason: refusal.rule.endReason)
    }

    /// A login from an address the route does not allow: refused like a wrong password, and
    /// recorded in the audit (start and end at once) so the operator sees the attempt.
    private func recordSourceRefusal(login: String) {
        logger.info("login refused by the route's access rules", metadata: ["reason": "\(AccessRule.source.rawValue)"])
        ProxyMetrics.accessRefused(rule: AccessRule.source.rawValue)
        // The route the login would have had (its own, a pattern or the catch-all).
        guard case .route(let route, _)? = try? RouteSelection.select(login, in: services.routes) else { return }
        if let id = recordStart(route: route, login: login, method: "access-refused") {
            recordEnd(auditID: id, reason: .accessSource)
        }
    }

    /// Sleeps until `seconds` after `start` (not at all if that has passed).
    private func wait(until start: Date, plus seconds: TimeInterval) {
        let remaining = seconds - Date().timeIntervalSince(start)
        if remaining > 0 { Thread.sleep(forTimeInterval: remaining) }
    }

    /// The client is in: record the session, plan its recording, and start relaying (or wait
    /// for the client's agent first).
    private func startSession(_ link: UpstreamLink<SSHSession>, login: String, method: String, pendingAgent: HostKeyVerifier.Verdict?) -> State {
        services.admission.loggedIn()
        let session = LoggedInSession(link: link, login: login, method: method)
        session.auditID = auditIDBeforeLogin ?? recordStart(route: link.route, login: login, method: method)
        auditIDBeforeLogin = nil
        if let id = session.auditID {
            services.liveSessions.register(auditID: id, request: session.endRequest, watch: session.watch, traffic: session.traffic)
        }
        session.recording = recordingPlan(for: session)
        ProxyMetrics.sessionStarted()
        if session.auditID == nil && settings[.recordRequired] && recordsSessions(of: session.link.route) {
            ProxyMetrics.recordingFailed(reason: "audit-unavailable")
            return .closing(.ended(.recordingUnavailable, notice: "this session must be recorded and cannot be; it was refused"), session)
        }
        ThreadMemory.releaseAfterLogin()
        if let pendingAgent { return .awaitingAgent(session, pendingAgent) }
        do {
            try attachUpstream(of: session)
        } catch {
            logger.error("connection failed", metadata: ["error": "\(error)"])
            return .closing(.internalError, session)
        }
        return .relaying(session)
    }

    /// Puts a logged-in upstream into the connection's event, non-blocking from now on.
    func attachUpstream(of session: LoggedInSession) throws(SSHError) {
        session.upstream.isBlocking = false
        try event.add(session.upstream)
        session.upstreamAttached = true
    }
}
