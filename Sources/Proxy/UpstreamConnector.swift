import Logging
import RouteStore
import SSH

/// Why an upstream could not be used. `reason` is stable (logs, metrics); `clientMessage` is
/// the plain sentence shown to the user.
enum UpstreamFailure: Error, CustomStringConvertible {
    case network(NetworkError)
    case handshake(SSHError)
    case authenticationError(String)

    var reason: String {
        switch self {
        case .network(let error): error.reason
        case .handshake(let error): error.code == .timeout ? "timeout" : "handshake-failed"
        case .authenticationError: "upstream-auth-error"
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
        case .authenticationError: "the upstream host failed during login"
        }
    }

    var description: String {
        switch self {
        case .network(let error): error.description
        case .handshake(let error): error.description
        case .authenticationError(let text): text
        }
    }
}

/// Opens the proxy's own SSH client connection to a route's upstream host.
struct UpstreamConnector {
    let timeoutSeconds: Int

    /// TCP connect plus SSH handshake, both within the timeout. Authentication is left to the caller.
    func connect(to route: Route, logger: Logger) throws(UpstreamFailure) -> SSHSession {
        let fd: Int32
        do {
            fd = try TCPConnector.connect(host: route.upstreamHost, port: route.upstreamPort, timeoutSeconds: timeoutSeconds)
        } catch {
            throw .network(error)
        }
        let session: SSHSession
        do {
            session = try SSHSession.connect(
                fd: fd, host: route.upstreamHost, port: route.upstreamPort, user: route.effectiveUpstreamUser,
                timeoutSeconds: timeoutSeconds)
        } catch {
            throw .handshake(error)
        }
        let fingerprint = (try? session.serverKeyFingerprint()) ?? "unknown"
        logger.debug("upstream handshake done", metadata: ["upstream.hostkey": "\(fingerprint)"])
        return session
    }
}
