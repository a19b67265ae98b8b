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
    private let penalties: SourcePenalties
    private let configuration: ProxyConfiguration
    private let authenticator: LoginAuthenticator
    private var logger: Logger
    private(set) var phase: Phase = .handshake
    private let deadline: Date
    private var relays: [ChannelRelay] = []
    private var pipes: [ChannelPipe] = []

    init(
        client: SSHSession, clientHost: String, store: any RouteStore, configuration: ProxyConfiguration,
        penalties: SourcePenalties, logger: Logger
    ) {
        self.client = client
        self.clientHost = clientHost
        self.penalties = penalties
        self.configuration = configuration
        self.logger = logger
        self.deadline = Date().addingTimeInterval(TimeInterval(configuration.loginGraceSeconds))
        self.authenticator = LoginAuthenticator(
            store: store,
            connector: UpstreamConnector(
                timeoutSeconds: configuration.upstreamConnectTimeoutSeconds,
                hostKeys: HostKeyVerifier(defaultPolicy: configuration.defaultHostKeyPolicy)),
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
            return
        }
        logger.debug("handshake done", metadata: ["client.version": "\(client.peerBanner ?? "?")"])
        do {
            let event = try SSHEvent()
            client.isBlocking = false
            try event.add(client)
            phase = .authenticating
            guard let link = authenticate(event: event) else {
                client.disconnect(message: "switchboard: login failed")
                return
            }
            phase = .relaying(link)
            try relay(link, event: event)
            event.remove(link.session)
        } catch {
            logger.error("connection failed", metadata: ["error": "\(error)"])
        }
        client.disconnect()
    }

    // MARK: Authentication

    private func authenticate(event: SSHEvent) -> UpstreamLink? {
        var failures = 0
        client.setAuthMethods(Self.offeredMethods)
        while client.isAlive {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                logger.info("login grace time expired", metadata: ["reason": "login-timeout"])
                return nil
            }
            event.poll(timeoutMilliseconds: Int32(min(remaining * 1000, 1000)))
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

    private func attemptLogin(user: String, method: SSHRequest.AuthAttempt, message: SSHMessage) -> Result<UpstreamLink, LoginFailure> {
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
        switch outcome {
        case .accepted(let link):
            message.acceptAuthentication()
            logger[metadataKey: "upstream.addr"] = "\(link.route.upstreamAddress)"
            logger.info("login accepted", metadata: ["auth.method": "\(method)", "upstream.user": "\(link.route.effectiveUpstreamUser)"])
            return .success(link)
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

    private func relay(_ link: UpstreamLink, event: SSHEvent) throws(SSHError) {
        let upstream = link.session
        upstream.isBlocking = false
        try event.add(upstream)
        var moved = true
        while true {
            if !moved { event.poll(timeoutMilliseconds: pollTimeoutMilliseconds) }
            moved = false
            while let message = client.nextMessage() {
                handleClientMessage(message, upstream: upstream)
                moved = true
            }
            while let message = upstream.nextMessage() {
                handleUpstreamMessage(message)
                moved = true
            }
            for relay in relays where relay.step() {
                moved = true
            }
            for pipe in pipes where pipe.step() {
                moved = true
            }
            relays.removeAll { $0.isFinished }
            pipes.removeAll { $0.isFinished }
            if !client.isAlive {
                logger.info("client disconnected", metadata: ["reason": "client-closed"])
                relays.forEach { $0.clientLost() }
                relays.removeAll()
                pipes.forEach { $0.close() }
                pipes.removeAll()
                upstream.disconnect()
                return
            }
            if !upstream.isAlive {
                logger.warning("upstream connection lost", metadata: ["reason": "upstream-closed"])
                relays.forEach { $0.upstreamLost(notice: "the connection to the upstream host was lost") }
                relays.removeAll()
                pipes.forEach { $0.close() }
                pipes.removeAll()
                client.disconnect(message: "switchboard: the connection to the upstream host was lost")
                return
            }
        }
    }

    /// How long the relay may sleep in poll: forever when idle (traffic wakes it at once, so an
    /// idle session never wakes up), briefly while a relay waits on a deadline of its own.
    private var pollTimeoutMilliseconds: Int32 {
        relays.contains { $0.hasDeadline } ? 250 : -1
    }

    /// Requests the upstream makes of us: agent connections (when the client forwards its
    /// agent) are relayed to the client; anything else is refused, as the client would.
    private func handleUpstreamMessage(_ message: SSHMessage) {
        guard case .channelOpen(.authAgent) = message.request, relays.contains(where: \.clientForwardsAgent) else {
            message.refuse()
            return
        }
        do {
            let toClient = try SSHChannel.make(on: client)
            pipes.append(ChannelPipe(request: message, opened: toClient, logger: logger) { $0.openAuthAgent() })
        } catch {
            logger.warning("cannot open agent channel to the client", metadata: ["error": "\(error)"])
            message.refuse()
        }
    }

    private func handleClientMessage(_ message: SSHMessage, upstream: SSHSession) {
        switch message.request {
        case .channelOpen(.session):
            do {
                let channel = try SSHChannel.make(on: upstream)
                relays.append(ChannelRelay(openRequest: message, upstream: channel, logger: logger))
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
        default:
            // Forwarding channels and global requests are not relayed yet; refusing answers
            // keepalive@openssh.com as OpenSSH itself does.
            message.refuse()
        }
    }
}
