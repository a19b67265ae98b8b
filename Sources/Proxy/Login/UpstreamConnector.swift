import Logging
import RouteStore
import SSH

/// Why an upstream could not be used. `reason` is stable (logs, metrics); `clientMessage` is
/// the plain sentence shown to the user.
enum UpstreamFailure: Error, CustomStringConvertible {
    case network(NetworkError)
    case handshake(SSHError)
    case hostKeyChanged(expected: String, actual: String)
    case hostKeyNotPinned(actual: String)
    /// Trust on first use could not record the key: nothing is sent to an unpinned upstream.
    case hostKeyNotRecorded(String)
    /// The host key policy is off and the operator did not allow credentials to go unverified.
    case credentialsWithheld
    case authenticationError(String)
    /// Other logins to the same upstream held every place (`max_upstream_startups`) too long.
    case busy

    var reason: String {
        switch self {
        case .hostKeyChanged: "host-key-mismatch"
        case .hostKeyNotPinned: "host-key-not-pinned"
        case .hostKeyNotRecorded: "host-key-not-recorded"
        case .credentialsWithheld: "credentials-withheld"
        case .network(let error): error.reason
        case .handshake(let error): error.code == .timeout ? "timeout" : "handshake-failed"
        case .authenticationError: "upstream-auth-error"
        case .busy: "upstream-busy"
        }
    }

    var clientMessage: String {
        switch self {
        case .network(.nameResolution): "the upstream host name could not be resolved"
        case .network(.refused): "the upstream host refused the connection"
        case .network(.timeout): "the upstream host did not answer in time"
        case .network(.unreachable): "the upstream host is unreachable"
        case .network(.other): "the upstream host could not be reached"
        case .handshake(let error) where error.code == .timeout: "the upstream SSH server did not answer in time"
        case .handshake: "the SSH handshake with the upstream host failed"
        case .hostKeyChanged: "upstream host key changed; refusing to connect"
        case .hostKeyNotPinned: "the upstream host key is not trusted yet"
        case .hostKeyNotRecorded: "the upstream host key could not be recorded"
        case .credentialsWithheld: "the upstream host key is not verified, so your credentials were not sent"
        case .authenticationError: "the upstream host failed during login"
        case .busy: "too many logins to the upstream host are under way; try again shortly"
        }
    }

    var description: String {
        switch self {
        case .network(let error): error.description
        case .handshake(let error): error.description
        case .hostKeyChanged(let expected, let actual): "upstream host key \(actual) does not match the pinned \(expected)"
        case .hostKeyNotPinned(let actual): "upstream host key \(actual) is not pinned and the policy is strict"
        case .hostKeyNotRecorded(let why): "the upstream host key could not be pinned: \(why)"
        case .credentialsWithheld: "host key policy off and --unverified-upstream-credentials not given: password, answers and agent withheld"
        case .authenticationError(let text): text
        case .busy: "no place among the upstream's logins in progress (max_upstream_startups) came free in time"
        }
    }
}

/// Opens the proxy's own SSH client connection to a route's upstream host.
struct UpstreamConnector {
    let timeoutSeconds: Int
    let hostKeys: HostKeyVerifier
    var keepaliveSeconds = 0

    init(timeoutSeconds: Int, hostKeys: HostKeyVerifier, keepaliveSeconds: Int = 0) {
        self.timeoutSeconds = timeoutSeconds
        self.hostKeys = hostKeys
        self.keepaliveSeconds = keepaliveSeconds
    }

    /// The connector `serve`'s settings describe.
    init(settings: ProxySettings) {
        self.init(
            timeoutSeconds: settings[.upstreamConnectTimeout], hostKeys: HostKeyVerifier(defaultPolicy: settings[.hostKeyPolicy]),
            keepaliveSeconds: settings[.tcpKeepalive])
    }

    /// TCP connect, SSH handshake and host key check, within the timeout. Authentication is
    /// left to the caller, who pins the key on success when the verdict says so.
    func connect(to route: Route, logger: Logger) throws(UpstreamFailure) -> (SSHSession, HostKeyVerifier.Verdict) {
        ProxyMetrics.upstreamConnectAttempt()
        do {
            return try verifiedHandshake(with: route, logger: logger)
        } catch {
            ProxyMetrics.upstreamConnectFailed(reason: error.reason)
            throw error
        }
    }

    private func verifiedHandshake(with route: Route, logger: Logger) throws(UpstreamFailure) -> (SSHSession, HostKeyVerifier.Verdict) {
        let started = ContinuousClock.now
        let session = try handshake(with: route)
        ProxyMetrics.upstreamConnected(after: .now - started)
        let fingerprint: String
        do {
            fingerprint = try session.serverKeyFingerprint()
        } catch {
            throw .handshake(error)
        }
        let verdict = try hostKeys.verify(fingerprint, for: route)
        if case .unchecked = verdict {
            logger.warning("upstream host key not verified (policy off)", metadata: ["upstream.hostkey": "\(fingerprint)"])
        }
        return (session, verdict)
    }

    /// TCP connect plus SSH handshake, both within the timeout.
    func handshake(with route: Route) throws(UpstreamFailure) -> SSHSession {
        let fd: Int32
        do {
            fd = try TCPConnector.connect(host: route.upstreamHost, port: route.upstreamPort, timeoutSeconds: timeoutSeconds)
        } catch {
            throw .network(error)
        }
        enableKeepalive(on: fd, idleSeconds: keepaliveSeconds)
        let session: SSHSession
        do {
            session = try SSHSession.connect(
                fd: fd, host: route.upstreamHost, port: route.upstreamPort, user: route.effectiveUpstreamUser,
                timeoutSeconds: timeoutSeconds, ciphers: UpstreamCiphers.preferred)
        } catch {
            throw .handshake(error)
        }
        return session
    }
}

/// What `switchboard route trust` uses: the host key an upstream presents right now.
public enum UpstreamProbe {
    /// Connects to the route's upstream, completes the key exchange and returns the host key's
    /// SHA256 fingerprint. Throws a message fit for the operator.
    public static func hostKeyFingerprint(of route: Route, timeoutSeconds: Int = 10) throws(ProxyError) -> String {
        let connector = UpstreamConnector(timeoutSeconds: timeoutSeconds, hostKeys: HostKeyVerifier(defaultPolicy: .off))
        do {
            let session = try connector.handshake(with: route)
            defer { session.disconnect() }
            return try session.serverKeyFingerprint()
        } catch let failure as UpstreamFailure {
            throw ProxyError(.upstream, "\(route.upstreamAddress): \(failure.clientMessage) (\(failure.description))")
        } catch {
            throw ProxyError(.upstream, "\(route.upstreamAddress): \(error)")
        }
    }
}
