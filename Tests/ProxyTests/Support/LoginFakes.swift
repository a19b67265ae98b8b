import Logging
import RouteStore
import SSH
import Synchronization

@testable import Proxy

/// An in-memory routing table; `failing` makes every read fail like a broken database.
final class FakeRoutes: RouteLookup, Sendable {
    private let state: Mutex<(routes: [String: Route], keys: [String: Set<String>], failing: Bool)>

    init(_ routes: [Route] = [], keys: [String: [String]] = [:]) {
        state = Mutex((Dictionary(uniqueKeysWithValues: routes.map { ($0.login, $0) }), keys.mapValues(Set.init), false))
    }

    func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }

    /// Another login pins this fingerprint just before ours tries to.
    nonisolated(unsafe) var pinRace: String?
    /// Pin writes fail like a read-only database.
    nonisolated(unsafe) var failPins = false
    func route(named login: String) -> Route? { state.withLock { $0.routes[login] } }

    func route(for login: String) throws(RouteStoreError) -> Route? {
        let (route, failing) = state.withLock { ($0.routes[login], $0.failing) }
        if failing { throw .database("disk I/O error") }
        return route
    }

    func hasRoute(differingOnlyInCaseFrom login: String) throws(RouteStoreError) -> Bool {
        let (logins, failing) = state.withLock { (Array($0.routes.keys), $0.failing) }
        if failing { throw .database("disk I/O error") }
        return logins.contains { $0 != login && $0.lowercased() == login.lowercased() }
    }

    func patternRoutes() throws(RouteStoreError) -> [Route] {
        let (routes, failing) = state.withLock { (Array($0.routes.values), $0.failing) }
        if failing { throw .database("disk I/O error") }
        return routes.filter(\.isPattern).sorted { ($0.matchPriority ?? 0, $0.login) < ($1.matchPriority ?? 0, $1.login) }
    }

    func isKeyListed(_ fingerprint: String, for login: String) throws(RouteStoreError) -> Bool {
        let (listed, failing) = state.withLock { ($0.keys[login]?.contains(fingerprint) ?? false, $0.failing) }
        if failing { throw .database("disk I/O error") }
        return listed
    }

    func pinHostKeyIfUnpinned(login: String, fingerprint: String) throws(RouteStoreError) -> Bool {
        let (race, failPins) = (pinRace, self.failPins)
        return try state.withLock { (state) throws(RouteStoreError) -> Bool in
            if state.failing || failPins { throw .database("attempt to write a readonly database") }
            if let race, var route = state.routes[login], route.hostKeyFingerprint == nil {
                route.hostKeyFingerprint = race
                state.routes[login] = route
            }
            guard var route = state.routes[login], route.hostKeyFingerprint == nil else { return false }
            route.hostKeyFingerprint = fingerprint
            state.routes[login] = route
            return true
        }
    }
}

/// An upstream that accepts one password (or a key file) and answers keyboard-interactive
/// with one password prompt, offering the methods in `methods`. With `failuresBeforeHangingUp`
/// it hangs up at that failure, as OpenSSH does at its MaxAuthTries.
final class FakeUpstreamSession: UpstreamLoginSession {
    let route: Route
    let password: String
    var acceptsKeyFile = false
    var isAlive = true
    var methods: AuthMethods = [.password, .keyboardInteractive, .publicKey]
    var issueBanner: String?
    var failuresBeforeHangingUp = Int.max
    /// Questions after the password (a one-time code), answered right with "123456".
    var asksForCode = false
    private(set) var attempts: [String] = []
    private var failures = 0
    private var passwordAnswered = false

    init(route: Route, password: String) {
        self.route = route
        self.password = password
    }

    func askMethods() -> SSHSession.MethodsAnswer {
        attempts.append("none")
        return .offers(methods)
    }

    func authenticate(password: WireText) -> SSHSession.AuthResult {
        attempts.append("password")
        guard methods.contains(.password) else { return refused() }
        return password == WireText(self.password) ? .success : refused()
    }

    private func refused() -> SSHSession.AuthResult {
        failures += 1
        guard failures < failuresBeforeHangingUp else {
            isAlive = false
            return .disconnected("Too many authentication failures")
        }
        return .denied
    }

    func authenticate(privateKeyAt path: String) -> SSHSession.AuthResult {
        attempts.append("key \(path)")
        return acceptsKeyFile ? .success : .denied
    }

    func authenticate(privateKeyText text: String) -> SSHSession.AuthResult {
        attempts.append("stored key")
        return acceptsKeyFile ? .success : .denied
    }

    func authenticate(withCertificateFrom certify: ([UInt8]) throws(SSHError) -> OpenSSHCertificate) -> SSHSession.AuthResult {
        attempts.append("certificate")
        return acceptsKeyFile ? .success : .denied
    }

    func keyboardInteractive(answers: [WireText]?) -> KeyboardInteractiveStep {
        attempts.append("keyboard-interactive")
        guard methods.contains(.keyboardInteractive) else { return .finished(refused()) }
        guard let answers else {
            passwordAnswered = false
            return .challenge(KeyboardInteractiveChallenge(
                name: "", instruction: "", prompts: [KeyboardInteractivePrompt(text: "Password: ", echo: false)]))
        }
        if asksForCode && passwordAnswered { return .finished(answers == [WireText("123456")] ? .success : refused()) }
        guard answers == [WireText(password)] else { return .finished(refused()) }
        guard asksForCode else { return .finished(.success) }
        passwordAnswered = true
        return .challenge(KeyboardInteractiveChallenge(
            name: "", instruction: "", prompts: [KeyboardInteractivePrompt(text: "Verification code: ", echo: false)]))
    }
}

/// Hands out fake upstream sessions and counts connections; `failure` makes it fail instead.
final class FakeConnector: UpstreamConnecting {
    var password = "right"
    var hostKey = "SHA256:upstream-key"
    var failure: UpstreamFailure?
    var acceptsKeyFile = false
    var methods: AuthMethods = [.password, .keyboardInteractive, .publicKey]
    var asksForCode = false
    var failuresBeforeHangingUp = Int.max
    var banner: String?
    private(set) var connections: [FakeUpstreamSession] = []

    func connect(to route: Route, logger: Logger) throws(UpstreamFailure) -> (FakeUpstreamSession, HostKeyVerifier.Verdict) {
        if let failure { throw failure }
        let verdict = try HostKeyVerifier(defaultPolicy: .acceptNew).verify(hostKey, for: route)
        let session = FakeUpstreamSession(route: route, password: password)
        session.acceptsKeyFile = acceptsKeyFile
        session.methods = methods
        session.asksForCode = asksForCode
        session.failuresBeforeHangingUp = failuresBeforeHangingUp
        session.issueBanner = banner
        connections.append(session)
        return (session, verdict)
    }
}

extension Logger {
    /// A logger that writes nothing: the login policy logs every refusal.
    static let silent = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
}
