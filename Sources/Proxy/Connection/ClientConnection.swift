import Foundation
import Logging
import RouteStore
import SSH

/// One client connection, driven start to finish by its own thread through the phases of
/// `State`: key exchange, authentication (which connects the upstream), an optional wait for
/// the client's forwarded agent, the relay of every channel, and one teardown. One `SSHEvent`
/// holds exactly this connection's two sessions.
final class ClientConnection {
    /// The life of a connection. `run()` does what the current case asks and moves on to the
    /// case that returns; each case carries the data only that phase needs.
    enum State {
        /// Key exchange with the client, bounded by the login grace time.
        case handshaking
        /// Waiting for a login the upstream accepts, bounded by the same deadline.
        case authenticating(LoginAttempts)
        /// The client is in, but the upstream login waits for the client's forwarded agent
        /// (`ssh -A`), which a session channel must ask for before it starts a program.
        case awaitingAgent(LoggedInSession, HostKeyVerifier.Verdict)
        /// Channels are relayed between the client and its upstream.
        case relaying(LoggedInSession)
        /// The connection ends: the one teardown path runs.
        case closing(ConnectionEnd, LoggedInSession?)
        /// Everything is released.
        case closed
    }

    let client: SSHSession
    /// The client's address (from the PROXY header behind a load balancer).
    let address: HostPort
    let services: ConnectionServices
    let settings: ProxySettings
    var logger: Logger
    let event: SSHEvent
    /// Key exchange and login must be done by then (the login grace time).
    let loginDeadline: Date
    /// Seconds without traffic that end a session (0: never), read once: the relay checks it
    /// on every pass.
    let idleTimeoutSeconds: Int
    let authenticator: LoginAuthenticator<UpstreamConnector>
    private(set) var state = State.handshaking
    /// Whether the client has been shown a pre-login banner (an upstream's or the decoy's).
    var bannerShown = false
    /// The methods refusals name: all the proxy can take, until the upstream's are known.
    var methodsOffered = ClientConnection.offeredMethods
    /// The audit id of a session whose start was recorded before its upstream login (a
    /// certificate login, whose certificate names it), until that login's outcome is known.
    var auditIDBeforeLogin: Int64?

    /// A failed login is answered no sooner than this after it started, whatever the reason,
    /// so that response time does not tell a missing route from a wrong password.
    static let failedLoginDelay: TimeInterval = 1

    init(client: SSHSession, address: HostPort, services: ConnectionServices, settings: ProxySettings, logger: Logger) throws(SSHError) {
        self.client = client
        self.address = address
        self.services = services
        self.settings = settings
        self.logger = logger
        loginDeadline = Date().addingTimeInterval(TimeInterval(settings[.loginGraceTime]))
        idleTimeoutSeconds = settings[.idleTimeout]
        authenticator = LoginAuthenticator(
            routes: services.routes, connector: services.connector,
            startupPlaces: UpstreamStartupPlaces(
                startups: services.upstreamStartups, source: SourcePenalties.source(of: address.host),
                limits: UpstreamStartups.Limits(settings: settings), patience: TimeInterval(settings[.upstreamConnectTimeout])),
            sendsCredentialsUnverified: settings[.unverifiedUpstreamCredentials], storedKeys: services.storedKeys,
            certificates: LoginAuthenticator.CertificateContext(
                client: address, clientCertificates: ClientCertificates(authorities: services.certificateAuthorities),
                upstreamCertificates: services.upstreamCertificates, sourceAddresses: settings[.certificateSourceAddresses]),
            clientHost: address.host, logger: logger)
        event = try SSHEvent()
        try event.addWakeSource(services.shutdown.fd)
    }

    /// Runs the whole connection; returns when it is over. Every libssh handle it created is
    /// released when this object goes away.
    func run() {
        while true {
            switch state {
            case .handshaking:
                state = handshake()
            case .authenticating(let attempts):
                state = authenticate(attempts)
            case .awaitingAgent(let session, let verdict):
                state = relay(session, awaitingAgent: verdict)
            case .relaying(let session):
                state = relay(session, awaitingAgent: nil)
            case .closing(let end, let session):
                tearDown(end, session)
                state = .closed
            case .closed:
                return
            }
        }
    }

    // MARK: Handshake

    private func handshake() -> State {
        do {
            try client.setTimeout(seconds: settings[.loginGraceTime])
            try client.handleKeyExchange()
        } catch {
            logger.info("handshake failed", metadata: ["reason": "\(error.code.rawValue)", "error": "\(error.message)"])
            ProxyMetrics.handshakeFailed(reason: error.code.rawValue)
            return .closing(.handshakeFailed, nil)
        }
        logger.debug("handshake done", metadata: ["client.version": "\(client.peerBanner ?? "?")"])
        do {
            client.isBlocking = false
            try event.add(client)
        } catch {
            logger.error("connection failed", metadata: ["error": "\(error)"])
            return .closing(.internalError, nil)
        }
        client.setAuthMethods(Self.offeredMethods)
        return .authenticating(LoginAttempts(maximum: settings[.maxAuthTries]))
    }

    /// What the proxy offers clients.
    static let offeredMethods: AuthMethods = [.publicKey, .keyboardInteractive, .password]

    // MARK: Teardown

    /// The one way a connection ends. Channels first (every queued request answered or dropped
    /// before a channel handle is released, then both sides closed), then the audit record,
    /// then the upstream (out of the event before it is disconnected), then the client.
    private func tearDown(_ end: ConnectionEnd, _ session: LoggedInSession?) {
        logger.info("connection ended", metadata: ["reason": "\(end.reason.rawValue)"])
        ProxyMetrics.connectionClosed(reason: end.reason)
        if let session {
            if let notice = end.notice {
                session.channels.abort(notice: notice)
            } else {
                session.channels.clientLost()
            }
            // Channel handles go before the sessions' disconnects, which free libssh's channels.
            session.channels.releaseFinished()
            recordEnd(of: session, reason: end.reason)
            session.watch.ended()
            ProxyMetrics.sessionEnded()
            if session.upstreamAttached { event.remove(session.upstream) }
            session.upstream.disconnect()
        }
        // A failed key exchange has already closed the socket inside libssh.
        guard end.reason != .handshakeFailed else { return }
        client.disconnect(message: end.disconnectMessage)
    }
}
