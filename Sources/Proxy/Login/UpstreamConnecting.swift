import Logging
import RouteStore
import SSH

/// An upstream connection that has finished its handshake and waits for a login.
/// `SSHSession` is the real one; unit tests of the login policy use fakes.
protocol UpstreamLoginSession: AnyObject {
    var isAlive: Bool { get }
    /// The upstream's pre-login banner, once it sent one.
    var issueBanner: String? { get }
    func askMethods() -> SSHSession.MethodsAnswer
    func authenticate(password: WireText) -> SSHSession.AuthResult
    func authenticate(privateKeyAt path: String) -> SSHSession.AuthResult
    func authenticate(privateKeyText text: String) -> SSHSession.AuthResult
    func authenticate(withCertificateFrom certify: (_ plainPublicKeyBlob: [UInt8]) throws(SSHError) -> OpenSSHCertificate) -> SSHSession.AuthResult
    func keyboardInteractive(answers: [WireText]?) -> KeyboardInteractiveStep
}

extension SSHSession: UpstreamLoginSession {}

/// Opens the connection to a route's upstream for a login: TCP, SSH handshake and the host
/// key check. `UpstreamConnector` is the real one.
protocol UpstreamConnecting {
    associatedtype Session: UpstreamLoginSession
    func connect(to route: Route, logger: Logger) throws(UpstreamFailure) -> (Session, HostKeyVerifier.Verdict)
}

extension UpstreamConnector: UpstreamConnecting {}

/// An authenticated upstream connection for a route: what a successful login produces.
struct UpstreamLink<Session: UpstreamLoginSession> {
    let route: Route
    let session: Session
    /// What the session may use beyond a program, as the client's certificate allows (all of
    /// what the route allows when the client logged in without one).
    var permissions = CertificatePermissions.unrestricted
}
