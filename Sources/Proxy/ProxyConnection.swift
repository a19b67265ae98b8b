import Foundation
import Logging
import RouteStore
import SSH

/// One client connection, driven start to finish by its own thread: key exchange,
/// authentication (which connects the upstream), then the relay of every channel.
/// One `SSHEvent` holds exactly this connection's two sessions.
final class ProxyConnection {
    /// The life of a connection.
    enum Phase {
        /// Key exchange with the client, bounded by the login grace time.
        case handshake
        /// Waiting for a login the upstream accepts, bounded by the same deadline.
        case authenticating
        /// Channels are relayed between the client and this upstream.
        case relaying(UpstreamLink)
        /// Everything is being torn down.
        case closed
    }

    private let client: SSHSession
    /// The client's address without port, the key for per-source penalties.
    private let clientHost: String
    private let clientPort: Int
    private let audit: any SessionAudit
    private let penalties: SourcePenalties
    private let shutdown: ShutdownNotice
    private let configuration: ProxyConfiguration
    private let authenticator: LoginAuthenticator
    private var logger: Logger
    private(set) var phase: Phase = .handshake
    private let deadline: Date
    private var relays: [ChannelRelay] = []
    /// What port forwarding the route allows.
    private var forwarding = ForwardingPolicy.all
    /// Where terminals are recorded, when recording is on for this session.
    private var recording: RecordingPlan?
    private var pipes: [ChannelPipe] = []

    init(
        client: SSHSession, clientHost: String, clientPort: Int, store: any RouteStore, audit: any SessionAudit,
        configuration: ProxyConfiguration, penalties: SourcePenalties, shutdown: ShutdownNotice, logger: Logger
    ) {
        self.client = client
        self.clientHost = clientHost
        self.clientPort = clientPort
        self.audit = audit
        self.penalties = penalties
        self.shutdown = shutdown
        self.configuration = configuration
        self.logger = logger
        self.deadline = Date().addingTimeInterval(TimeInterval(configuration.loginGraceSeconds))
        self.authenticator = LoginAuthenticator(
            store: store,
            connector: UpstreamConnector(
                timeoutSeconds: configuration.upstreamConnectTimeoutSeconds,
                hostKeys: HostKeyVerifier(defaultPolicy: configuration.defaultHostKeyPolicy),
                keepaliveSeconds: configuration.tcpKeepaliveSeconds),
            logger: logger)
    }

    /// Runs the whole connection; returns when it is over. Every libssh handle it created is
    /// released when this object goes away.
    func run() {
        defer { phase = .closed }
        do {
            try client.setTimeout(seconds: configuration.loginGraceSeconds)
            try client.handleKeyExchange()
        } catch {
            logger.info("handshake failed", metadata: ["reason": "\(error.code.rawValue)", "error": "\(error.message)"])
            ProxyMetrics.handshakeFailed(reason: error.code.rawValue)
            return
        }
        logger.debug("handshake done", metadata: ["client.version": "\(client.peerBanner ?? "?")"])
        do {
            let event = try SSHEvent()
            try event.addWakeSource(shutdown.fd)
            client.isBlocking = false
            try event.add(client)
            phase = .authenticating
            guard let login = authenticate(event: event) else {
                client.disconnect(message: "switchboard: login failed")
                return
            }
            phase = .relaying(login.link)
            let auditID = recordStart(login)
            recording = recordingPlan(for: login.link.route, auditID: auditID)
            ProxyMetrics.sessionStarted()
            defer { ProxyMetrics.sessionEnded() }
            ThreadMemory.releaseAfterLogin()
            let reason: String
            do {
                reason = try relay(login, event: event)
            } catch {
                recordEnd(auditID, reason: "error")
                throw error
            }
            recordEnd(auditID, reason: reason)
            event.remove(login.link.session)
        } catch {
            logger.error("connection failed", metadata: ["error": "\(error)"])
        }
        client.disconnect()
    }

    // MARK: Authentication

    /// A client that is in, and whether its upstream still has to log in through its agent.
    private struct ClientLogin {
        let link: UpstreamLink
        /// The name the client logged in with (differs from the route's for the catch-all route).
        let user: String
        /// How the client logged in: "password", "publickey", "keyboard-interactive".
        let method: String
        /// Set when the upstream login waits for the client's forwarded agent.
        let pendingAgentVerdict: HostKeyVerifier.Verdict?
    }

    private func authenticate(event: SSHEvent) -> ClientLogin? {
        var failures = 0
        client.setAuthMethods(Self.offeredMethods)
        while client.isAlive {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                logger.info("login grace time expired", metadata: ["reason": "login-timeout"])
                return nil
            }
            event.poll(timeoutMilliseconds: Int32(min(remaining * 1000, 1000)))
            if shutdown.isRequested {
                logger.info("login abandoned: the proxy is shutting down", metadata: ["reason": "shutdown"])
                return nil
            }
            while let message = client.nextMessage() {
                switch message.request {
                case .service:
                    message.accept()
                case .authentication(let user, let method):
                    switch attemptLogin(user: user, method: method, message: message) {
                    case .success(let link):
                        return link
                    case .failure(.inProgress):
                        continue
                    case .failure(.tryAgain):
                        if case .none = method { continue }
                        failures += 1
                        if failures >= configuration.maxAuthTries {
                            logger.info("too many authentication failures", metadata: ["reason": "max-auth-tries"])
                            return nil
                        }
                    case .failure(.giveUp):
                        return nil
                    }
                default:
                    message.refuse()
                }
            }
        }
        logger.info("client left during authentication")
        return nil
    }

    /// What the proxy offers clients.
    private static let offeredMethods: AuthMethods = [.publicKey, .keyboardInteractive, .password]

    private enum LoginFailure: Error {
        /// A keyboard-interactive round was sent; the client's answers come next.
        case inProgress
        case tryAgain
        case giveUp
    }

    /// The name of the login in progress (keyboard-interactive answers carry none).
    private var loginName = ""

    private func attemptLogin(user: String, method: SSHRequest.AuthAttempt, message: SSHMessage) -> Result<ClientLogin, LoginFailure> {
        if !user.isEmpty { loginName = user }
        let user = loginName
        // The name comes from the client: log it only if it could be a route name at all, so a
        // crafted name cannot forge log lines.
        logger[metadataKey: "route.user"] = "\((try? RouteValidation.login(user)) ?? "(invalid name)")"
        let started = Date()
        let outcome: LoginAuthenticator.Outcome
        switch method {
        case .password(let password):
            outcome = authenticator.authenticate(login: user, password: password)
        case .publicKey(let key?, .probe):
            if authenticator.wouldAccept(login: user, key: key) {
                message.acceptPublicKeyProbe()
            } else {
                message.refuseAuthentication(offering: Self.offeredMethods)
            }
            return .failure(.tryAgain)
        case .publicKey(let key?, .verified):
            outcome = authenticator.authenticate(login: user, verifiedKey: key)
        case .keyboardInteractive(let answers):
            let next = answers.map { authenticator.continueKeyboardInteractive(answers: $0) }
                ?? authenticator.startKeyboardInteractive(login: user)
            switch next {
            case .ask(let challenge):
                message.sendKeyboardInteractiveChallenge(challenge)
                return .failure(.inProgress)
            case .done(let result):
                outcome = result
            }
        default:
            // `none` is the client's probe for the list of methods; an invalid signature or a
            // method not offered is simply refused.
            message.refuseAuthentication(offering: Self.offeredMethods)
            return .failure(.tryAgain)
        }
        ProxyMetrics.authentication(method: "\(method)", result: outcome.metricResult)
        switch outcome {
        case .accepted(let link):
            message.acceptAuthentication()
            logger[metadataKey: "upstream.addr"] = "\(link.route.upstreamAddress)"
            logger.info("login accepted", metadata: ["auth.method": "\(method)", "upstream.user": "\(link.route.effectiveUpstreamUser)"])
            return .success(ClientLogin(link: link, user: user, method: "\(method)", pendingAgentVerdict: nil))
        case .acceptedPendingAgent(let link, let verdict):
            message.acceptAuthentication()
            logger[metadataKey: "upstream.addr"] = "\(link.route.upstreamAddress)"
            logger.info("login accepted; upstream login waits for the client's agent", metadata: ["auth.method": "\(method)"])
            return .success(ClientLogin(link: link, user: user, method: "\(method)", pendingAgentVerdict: verdict))
        case .rejected(let reason):
            logger.info("login refused", metadata: ["auth.method": "\(method)", "reason": "\(reason.rawValue)"])
            if penalties.recordFailure(from: clientHost) {
                logger.warning("source banned after repeated failed logins", metadata: [
                    "reason": "ban", "ban.seconds": "\(configuration.banTimeSeconds)",
                ])
            }
            delayFailure(since: started)
            message.refuseAuthentication(offering: Self.offeredMethods)
            return .failure(.tryAgain)
        case .upstreamUnavailable(let route, let failure):
            logger.warning("upstream unavailable", metadata: [
                "upstream.addr": "\(route.upstreamAddress)", "reason": "\(failure.reason)", "error": "\(failure.description)",
            ])
            // The notice tells the client the login has a route; it is only sent when the
            // upstream cannot be used at all, which the user needs to know.
            let notice = "switchboard: \(failure.clientMessage) (\(route.login)); please try again later."
            client.sendBanner(notice + "\r\n")
            message.dropWithoutReply()
            client.disconnect(message: notice)
            return .failure(.giveUp)
        }
    }

    /// Makes every refusal take at least the configured time, so timing does not reveal
    /// whether a route exists.
    private func delayFailure(since start: Date) {
        let minimum = TimeInterval(configuration.failedLoginDelayMilliseconds) / 1000
        let remaining = minimum - Date().timeIntervalSince(start)
        if remaining > 0 { Thread.sleep(forTimeInterval: remaining) }
    }

    // MARK: Relay

    /// Relays until the connection ends; returns why it ended (for the audit trail).
    private func relay(_ login: ClientLogin, event: SSHEvent) throws(SSHError) -> String {
        let upstream = login.link.session
        forwarding = login.link.route.forwarding ?? .all
        var upstreamLoggedIn = login.pendingAgentVerdict == nil
        if upstreamLoggedIn { try attach(upstream, to: event) }
        var moved = true
        while true {
            if !moved { event.poll(timeoutMilliseconds: upstreamLoggedIn ? pollTimeoutMilliseconds : 250) }
            if let (reason, notice) = reasonToEndNow() {
                relays.forEach { $0.abort(notice: notice) }
                retireRelays(all: true)
                pipes.forEach { $0.close() }
                pipes.removeAll()
                upstream.disconnect()
                client.disconnect(message: "switchboard: \(notice)")
                return reason
            }
            // libssh also reads sockets inside our own calls (writes, requests, message checks),
            // so a pass counts as busy if it took in traffic; sleep only after a quiet one.
            let consumedBefore = (client.inputConsumed, upstream.inputConsumed)
            moved = false
            for relay in relays where relay.step() {
                moved = true
            }
            for pipe in pipes where pipe.step() {
                moved = true
            }
            while let message = client.nextMessage() {
                handleClientMessage(message, upstream: upstream, upstreamLoggedIn: upstreamLoggedIn)
                moved = true
            }
            if upstreamLoggedIn {
                while let message = upstream.nextMessage() {
                    handleUpstreamMessage(message)
                    moved = true
                }
            }
            if !moved && (client.inputConsumed, upstream.inputConsumed) != consumedBefore { moved = true }
            noteTraffic()
            retireRelays(all: false)
            pipes.removeAll { $0.isFinished }
            if !client.isAlive {
                logger.info("client disconnected", metadata: ["reason": "client-closed"])
                relays.forEach { $0.clientLost() }
                retireRelays(all: true)
                pipes.forEach { $0.close() }
                pipes.removeAll()
                upstream.disconnect()
                return "client-closed"
            }
            if !upstreamLoggedIn, let verdict = login.pendingAgentVerdict {
                switch loginThroughAgent(login.link, verdict: verdict, event: event) {
                case .waiting:
                    continue
                case .loggedIn:
                    try attach(upstream, to: event)
                    upstreamLoggedIn = true
                    relays.forEach { $0.upstreamReady(on: upstream) }
                    moved = true
                case .failed(let notice):
                    relays.forEach { $0.abort(notice: notice) }
                    retireRelays(all: true)
                    client.disconnect(message: "switchboard: \(notice)")
                    return "agent-login-failed"
                }
            }
            if !upstream.isAlive {
                logger.warning("upstream connection lost", metadata: ["reason": "upstream-closed"])
                relays.forEach { $0.abort(notice: "the connection to the upstream host was lost") }
                retireRelays(all: true)
                pipes.forEach { $0.close() }
                pipes.removeAll()
                client.disconnect(message: "switchboard: the connection to the upstream host was lost")
                return "upstream-closed"
            }
        }
    }

    /// Puts a logged-in upstream into the connection's event, non-blocking from now on.
    private func attach(_ upstream: SSHSession, to event: SSHEvent) throws(SSHError) {
        upstream.isBlocking = false
        try event.add(upstream)
    }

    private enum AgentLoginProgress {
        /// The client has not forwarded its agent yet, and still has time to.
        case waiting
        case loggedIn
        case failed(notice: String)
    }

    /// Logs in upstream through the client's forwarded agent once a session channel asked for
    /// agent forwarding; fails if the client starts a program without one, or runs out of time.
    private func loginThroughAgent(_ link: UpstreamLink, verdict: HostKeyVerifier.Verdict, event: SSHEvent) -> AgentLoginProgress {
        let needAgent = "this route logs in upstream with your own key: connect with agent forwarding (ssh -A)"
        guard relays.contains(where: \.clientForwardsAgent) else {
            if relays.contains(where: \.startsWithoutAgent) || Date() >= deadline {
                logger.info("no forwarded agent for an agent login", metadata: ["reason": "no-agent"])
                return .failed(notice: needAgent)
            }
            return .waiting
        }
        let result = AgentBridge.withClientAgent(client: client, event: event, deadline: deadline, logger: logger) { socket in
            link.session.authenticateWithAgent(socket: socket)
        }
        guard let result else { return .failed(notice: "your forwarded agent could not be reached") }
        guard authenticator.finishAgentLogin(link, verdict: verdict, result: result) else {
            return .failed(notice: "the upstream host accepted none of the keys in your agent")
        }
        return .loggedIn
    }

    /// How long the relay may sleep in poll: forever when idle (traffic wakes it at once, so an
    /// idle session never wakes up), briefly while a relay waits on a deadline of its own.
    private var pollTimeoutMilliseconds: Int32 {
        if relays.contains(where: \.hasDeadline) { return 250 }
        guard let idleDeadline else { return -1 }
        return Int32(clamping: max(0, (idleDeadline - .now).components.seconds * 1000 + 50))
    }

    /// When the session counts as idle, if an idle timeout is set.
    private var idleDeadline: ContinuousClock.Instant? {
        configuration.idleTimeoutSeconds > 0 ? lastTraffic + .seconds(configuration.idleTimeoutSeconds) : nil
    }

    /// When channel data last moved either way, and how much had moved by then.
    private var lastTraffic = ContinuousClock.now
    private var bytesSeen = 0

    private func noteTraffic() {
        let total = relays.reduce(retiredBytes.toUpstream + retiredBytes.toClient) { $0 + $1.bytesMoved }
        if total != bytesSeen {
            bytesSeen = total
            lastTraffic = .now
        }
    }

    /// Why the whole connection must end now, if it must: the proxy is shutting down, or the
    /// session has been idle for longer than allowed. Returns the reason and the user's notice.
    private func reasonToEndNow() -> (reason: String, notice: String)? {
        if shutdown.isRequested {
            logger.info("closing session: the proxy is shutting down", metadata: ["reason": "shutdown"])
            return ("shutdown", "the proxy is shutting down; please reconnect")
        }
        if let idleDeadline, ContinuousClock.now >= idleDeadline {
            logger.info("closing idle session", metadata: ["reason": "idle-timeout"])
            return ("idle-timeout", "closing the session after \(configuration.idleTimeoutSeconds) s without traffic")
        }
        return nil
    }

    // MARK: Audit

    /// What finished relays carried and how their programs ended, for the audit trail.
    private var retiredBytes = (toUpstream: 0, toClient: 0)
    private var lastExit: String?

    /// Drops finished relays (or all of them), keeping their totals.
    private func retireRelays(all: Bool) {
        for relay in relays where all || relay.isFinished {
            retiredBytes.toUpstream += relay.bytesToUpstream
            retiredBytes.toClient += relay.bytesToClient
            ProxyMetrics.bytesRelayed(toUpstream: relay.bytesToUpstream, toClient: relay.bytesToClient)
            if let exit = relay.exitDescription { lastExit = exit }
        }
        relays.removeAll { all || $0.isFinished }
    }

    private func recordStart(_ login: ClientLogin) -> Int64? {
        let route = login.link.route
        do {
            let id = try audit.recordStart(SessionRecord(
                login: login.user, clientAddress: clientHost, clientPort: clientPort, upstreamHost: route.upstreamHost,
                upstreamPort: route.upstreamPort, upstreamUser: route.effectiveUpstreamUser, authMethod: login.method))
            logger[metadataKey: "audit.id"] = "\(id)"
            return id
        } catch {
            logger.error("cannot record session start", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Recording is on when the proxy has a record directory and the route does not turn it off
    /// (a route can also turn it on, which needs the directory too); it needs an audit id.
    private func recordingPlan(for route: Route, auditID: Int64?) -> RecordingPlan? {
        guard let auditID, route.record ?? true, let directory = configuration.recordDirectory else {
            if route.record == true && configuration.recordDirectory == nil {
                logger.warning("route asks for recording but the proxy has no --record-dir")
            }
            return nil
        }
        return RecordingPlan(directory: directory, auditID: auditID, recordsInput: configuration.recordInput) { [audit, logger] path in
            do {
                try audit.recordRecording(id: auditID, path: path)
            } catch {
                logger.error("cannot note the recording in the audit", metadata: ["error": "\(error)"])
            }
        }
    }

    private func recordEnd(_ id: Int64?, reason: String) {
        guard let id else { return }
        retireRelays(all: true)
        do {
            try audit.recordEnd(id: id, SessionEnd(
                bytesToUpstream: retiredBytes.toUpstream, bytesToClient: retiredBytes.toClient, exitStatus: lastExit, reason: reason))
        } catch {
            logger.error("cannot record session end", metadata: ["error": "\(error)"])
        }
    }

    /// Requests the upstream makes of us: agent connections (when the client forwards its
    /// agent) are relayed to the client; anything else is refused, as the client would.
    private func handleUpstreamMessage(_ message: SSHMessage) {
        let open: (SSHChannel) -> RequestProgress
        switch message.request {
        case .channelOpen(.authAgent) where relays.contains(where: \.clientForwardsAgent):
            open = { $0.openAuthAgent() }
        case .channelOpen(.forwardedTCPIP(let host, let port, let originHost, let originPort)) where forwarding.allowsRemote:
            open = { $0.openReverseForward(host: host, port: port, originHost: originHost, originPort: originPort) }
        default:
            message.refuse()
            return
        }
        do {
            pipes.append(ChannelPipe(request: message, opened: try SSHChannel.make(on: client), logger: logger, open: open))
        } catch {
            logger.warning("cannot open a channel to the client", metadata: ["error": "\(error)"])
            message.refuse()
        }
    }

    /// `ssh -R`: the client's tcpip-forward and cancel-tcpip-forward requests go upstream, and
    /// their answers come back in the order asked (global replies carry no id).
    private func handleGlobalRequest(_ message: SSHMessage, _ kind: SSHRequest.GlobalRequestKind, upstream: SSHSession, upstreamLoggedIn: Bool) {
        switch kind {
        case .tcpipForward(let address, let port):
            guard upstreamLoggedIn, forwarding.allowsRemote else {
                logger.info("forwarding refused", metadata: ["reason": "\(upstreamLoggedIn ? "policy" : "upstream-not-ready")", "forward.kind": "remote"])
                message.refuse()
                return
            }
            if let bound = upstream.listenForward(address: address, port: port) {
                logger.info("remote forward opened upstream", metadata: ["forward.port": "\(bound)"])
                message.acceptForward(boundPort: bound)
            } else {
                logger.info("upstream refused remote forward", metadata: ["error": "\(upstream.lastError)"])
                message.refuse()
            }
        case .cancelTCPIPForward(let address, let port):
            if upstreamLoggedIn && upstream.cancelForward(address: address, port: port) { message.accept() } else { message.refuse() }
        case .keepalive, .other:
            // Refusing answers keepalive@openssh.com as OpenSSH itself does.
            message.refuse()
        }
    }

    private func handleClientMessage(_ message: SSHMessage, upstream: SSHSession, upstreamLoggedIn: Bool) {
        switch message.request {
        case .channelOpen(.session):
            do {
                if upstreamLoggedIn {
                    relays.append(ChannelRelay(
                        openRequest: message, upstream: try SSHChannel.make(on: upstream), recording: recording, logger: logger))
                } else {
                    // The client's channel must be open for it to ask for agent forwarding,
                    // which the upstream login needs: accept now, open upstream later.
                    relays.append(ChannelRelay(acceptedDownstream: try message.acceptChannelOpen(), recording: recording, logger: logger))
                }
            } catch {
                logger.warning("cannot create upstream channel", metadata: ["error": "\(error)"])
                message.refuse()
            }
        case .channelOpen(.directTCPIP(let host, let port, let originHost, let originPort)):
            guard upstreamLoggedIn, forwarding.allowsLocal else {
                logger.info("forwarding refused", metadata: ["reason": "\(upstreamLoggedIn ? "policy" : "upstream-not-ready")", "forward.kind": "local"])
                message.refuse()
                return
            }
            do {
                let channel = try SSHChannel.make(on: upstream)
                pipes.append(ChannelPipe(request: message, opened: channel, logger: logger) {
                    $0.openForward(host: host, port: port, originHost: originHost, originPort: originPort)
                })
            } catch {
                logger.warning("cannot create upstream channel", metadata: ["error": "\(error)"])
                message.refuse()
            }
        case .channelRequest(let id, let request):
            guard let relay = relays.first(where: { $0.downstreamID == id }) else {
                message.refuse()
                return
            }
            relay.enqueue(request, message: message)
        case .global(let kind):
            handleGlobalRequest(message, kind, upstream: upstream, upstreamLoggedIn: upstreamLoggedIn)
        default:
            // X11, Unix-socket forwarding and anything else unknown is refused.
            message.refuse()
        }
    }
}
