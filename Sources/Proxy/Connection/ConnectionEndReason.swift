/// Why a client connection ended, before or after its login. The raw value is stable: the
/// audit trail (for sessions that logged in), the `connection ended` log line and the
/// `switchboard_connections_closed_total` metric carry it.
enum ConnectionEndReason: String, Sendable {
    // Before the client is logged in (no audit record exists yet).
    case handshakeFailed = "handshake-failed"
    case loginTimeout = "login-timeout"
    case tooManyAuthFailures = "max-auth-tries"
    case clientLeftDuringLogin = "client-left-during-login"
    case upstreamUnavailable = "upstream-unavailable"
    case storeUnavailable = "store-unavailable"
    /// The source was banned while the connection was logging in.
    case banned
    /// The upstream refused the certificate the proxy made for a login (whose audit record was
    /// started before, as the certificate names it).
    case upstreamRefusedCertificate = "upstream-refused-certificate"
    /// An access rule of the route refused the login (the audit record ends with the rule's name).
    case accessSource = "access-source"
    case accessNotYetValid = "access-not-yet-valid"
    case accessExpired = "access-expired"
    case accessSchedule = "access-schedule"
    case accessMaxSessions = "access-max-sessions"
    // After the login.
    case clientClosed = "client-closed"
    case upstreamClosed = "upstream-closed"
    case idleTimeout = "idle-timeout"
    case agentLoginFailed = "agent-login-failed"
    /// A peer sent far more data on a channel than the window it was given.
    case windowOverrun = "window-overrun"
    /// Recording is required and the session's audit record could not be written.
    case recordingUnavailable = "recording-unavailable"
    /// An operator ended it (`switchboard sessions kill`).
    case killed
    case error
    // Either.
    case shutdown
}

/// How a connection ends: why, and what the client is told.
struct ConnectionEnd {
    let reason: ConnectionEndReason
    /// The plain sentence for the user, written to every open terminal or command's stderr;
    /// nil when there is nothing to tell (the client left).
    let notice: String?
    /// The text of the SSH disconnect message, if any.
    let disconnectMessage: String?

    /// A login that did not happen: the client only learns that it failed.
    static func loginFailed(_ reason: ConnectionEndReason) -> ConnectionEnd {
        ConnectionEnd(reason: reason, notice: nil, disconnectMessage: "switchboard: login failed")
    }

    /// The login cannot be served at all (upstream or routing table unavailable); `message`
    /// was already shown to the client as a banner.
    static func loginImpossible(_ reason: ConnectionEndReason, message: String) -> ConnectionEnd {
        ConnectionEnd(reason: reason, notice: nil, disconnectMessage: message)
    }

    /// The proxy ends a logged-in session and tells the user why.
    static func ended(_ reason: ConnectionEndReason, notice: String) -> ConnectionEnd {
        ConnectionEnd(reason: reason, notice: notice, disconnectMessage: "switchboard: \(notice)")
    }

    /// Too many refused attempts, in the words OpenSSH's sshd uses.
    static let tooManyAuthFailures = ConnectionEnd(
        reason: .tooManyAuthFailures, notice: nil, disconnectMessage: "Too many authentication failures")
    static let handshakeFailed = ConnectionEnd(reason: .handshakeFailed, notice: nil, disconnectMessage: nil)
    static let clientClosed = ConnectionEnd(reason: .clientClosed, notice: nil, disconnectMessage: nil)
    static let upstreamLost = ended(.upstreamClosed, notice: "the connection to the upstream host was lost")

    /// The upstream ended the connection with `reason`, which the client is given as its own
    /// disconnect reason.
    static func upstreamDisconnected(saying reason: String) -> ConnectionEnd {
        ConnectionEnd(reason: .upstreamClosed, notice: "the upstream host closed the connection: \(reason)", disconnectMessage: reason)
    }
    static let shutdown = ended(.shutdown, notice: "the proxy is shutting down; please reconnect")
    static let killed = ended(.killed, notice: "an administrator ended this session")
    static let internalError = ended(.error, notice: "the session ended because of an error in the proxy")

    static func idle(afterSeconds seconds: Int) -> ConnectionEnd {
        ended(.idleTimeout, notice: "closing the session after \(seconds) s without traffic")
    }
}
