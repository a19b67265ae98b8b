import Logging
import RouteStore
import SSH
import XCTest

@testable import Proxy

/// The login policy, with an in-memory routing table and a fake upstream: who gets in, who is
/// refused and why, and what a broken routing table does.
final class LoginAuthenticatorTests: XCTestCase {
    private let listedKey = try! PublicKey(
        authorizedKeysLine: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIZ24oZnmg8LIIiZAWCF6binADTMrJS2NmncuN9bq69 listed")
    private let otherKey = try! PublicKey(
        authorizedKeysLine: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOzhiT2zHJ+cKbKz3sk+fd6fVR3P2lPEfuWFQVFIFJhA other")

    private var routes: FakeRoutes!
    private var connector: FakeConnector!
    private var authenticator: LoginAuthenticator<FakeConnector>!

    override func setUp() {
        routes = FakeRoutes(
            [
                Route(login: "alice", upstreamHost: "10.0.0.5"),
                Route(login: "off", upstreamHost: "10.0.0.6", enabled: false),
                Route(login: "mapped", upstreamHost: "10.0.0.7", identityFile: "/keys/mapped"),
                Route(login: "agent", upstreamHost: "10.0.0.8"),
            ],
            keys: ["mapped": [listedKey.fingerprint], "agent": [listedKey.fingerprint]])
        connector = FakeConnector()
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
    }

    private func rejection(_ outcome: LoginAuthenticator<FakeConnector>.Outcome) -> LoginRejection? {
        if case .rejected(let reason) = outcome { return reason }
        return nil
    }

    func testPasswordIsInOnlyIfTheUpstreamAcceptsIt() {
        guard case .accepted(let link) = authenticator.authenticate(login: "alice", password: "right") else {
            return XCTFail("the upstream accepted the password")
        }
        XCTAssertEqual(link.route.login, "alice")
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "wrong")), .upstreamDenied)
    }

    func testMissingAndDisabledRoutesAreRefusedWithoutContactingAnyUpstream() {
        XCTAssertEqual(rejection(authenticator.authenticate(login: "nobody", password: "right")), .noRoute)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "off", password: "right")), .routeDisabled)
        XCTAssertTrue(connector.connections.isEmpty)
    }

    func testAFailedAttemptKeepsTheUpstreamConnectionForTheNextOne() {
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "wrong")), .upstreamDenied)
        guard case .accepted = authenticator.authenticate(login: "alice", password: "right") else { return XCTFail() }
        XCTAssertEqual(connector.connections.count, 1)
        XCTAssertEqual(connector.connections[0].attempts, ["none", "password", "password"])
    }

    func testTheCatchAllRouteServesUnknownValidNamesOnly() {
        routes = FakeRoutes([Route(login: Route.catchAllLogin, upstreamHost: "10.0.0.9")])
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        guard case .accepted(let link) = authenticator.authenticate(login: "carol", password: "right") else { return XCTFail() }
        XCTAssertEqual(link.route.effectiveUpstreamUser, "carol")
        XCTAssertEqual(link.route.login, Route.catchAllLogin)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "-bad name", password: "right")), .noRoute)
    }

    func testAnUnverifiedUpstreamGetsNoCredentialsUnlessTheOperatorAllowsIt() {
        routes = FakeRoutes([Route(login: "alice", upstreamHost: "10.0.0.5", hostKeyPolicy: .off)])
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        guard case .upstreamUnavailable(_, .credentialsWithheld) = authenticator.authenticate(login: "alice", password: "right") else {
            return XCTFail("a password went to an unverified upstream")
        }
        guard case .done(.upstreamUnavailable(_, .credentialsWithheld)) = authenticator.startKeyboardInteractive(login: "alice") else {
            return XCTFail("keyboard-interactive answers would go to an unverified upstream")
        }
        XCTAssertEqual(connector.connections.flatMap(\.attempts).filter { $0 != "none" }, [], "only `none`, which carries no secret")
        let trusting = LoginAuthenticator(routes: routes, connector: connector, sendsCredentialsUnverified: true, logger: .silent)
        guard case .accepted = trusting.authenticate(login: "alice", password: "right") else { return XCTFail() }
    }

    func testTheCatchAllServesNeitherTheLiteralStarNorAnotherCaseOfARoutedName() {
        routes = FakeRoutes([
            Route(login: Route.catchAllLogin, upstreamHost: "10.0.0.9", identityFile: "/keys/shared"),
            Route(login: "alice", upstreamHost: "10.0.0.5", enabled: false),
        ], keys: [Route.catchAllLogin: [listedKey.fingerprint]])
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "*", password: "right")), .noRoute)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "ALICE", password: "right")), .caseMismatch)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "right")), .routeDisabled)
        guard case .accepted = authenticator.authenticate(login: "carol", password: "right") else { return XCTFail() }
        // A key listed for the catch-all never logs in upstream with a shared mapped key.
        guard case .acceptedPendingAgent = authenticator.authenticate(login: "dave", verifiedKey: listedKey) else {
            return XCTFail("the catch-all's key logins go through the client's own agent")
        }
        XCTAssertFalse(connector.connections.contains { $0.attempts.contains("key /keys/shared") })
    }

    func testTheFirstKeyExchangePinsTheUpstreamHostKeyBeforeAnyCredentialIsSent() {
        // An upstream that denies every password (a man in the middle collecting them) is
        // pinned at its first key exchange, so a real upstream later is refused, not trusted.
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "wrong")), .upstreamDenied)
        XCTAssertEqual(routes.route(named: "alice")?.hostKeyFingerprint, connector.hostKey)
        connector.hostKey = "SHA256:another-key"
        let fresh = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        guard case .upstreamUnavailable(_, .hostKeyChanged) = fresh.authenticate(login: "alice", password: "right") else {
            return XCTFail("a different key after the first key exchange must be refused")
        }
    }

    func testWhenTwoFirstLoginsRaceTheLoserChecksTheWinnersPin() {
        routes.pinRace = "SHA256:the-other-upstream"
        guard case .upstreamUnavailable(_, .hostKeyChanged(let expected, let actual)) = authenticator.authenticate(login: "alice", password: "right")
        else { return XCTFail("the losing login must be refused") }
        XCTAssertEqual(expected, "SHA256:the-other-upstream")
        XCTAssertEqual(actual, connector.hostKey)
        XCTAssertEqual(connector.connections.first?.attempts, [], "no password went to the unpinned upstream")
    }

    func testAPinThatCannotBeWrittenSendsNothing() {
        routes.failPins = true
        guard case .upstreamUnavailable(_, .hostKeyNotRecorded) = authenticator.authenticate(login: "alice", password: "right") else {
            return XCTFail("trust on first use must fail closed")
        }
        XCTAssertEqual(connector.connections.first?.attempts, [])
    }

    func testAnUnreachableUpstreamIsNotAWrongPassword() {
        connector.failure = .network(.refused("connection refused"))
        guard case .upstreamUnavailable(let route, let failure) = authenticator.authenticate(login: "alice", password: "right") else {
            return XCTFail()
        }
        XCTAssertEqual(route.login, "alice")
        XCTAssertEqual(failure.reason, "connection-refused")
    }

    func testKeyProbesAreAnsweredOnlyForListedKeys() {
        XCTAssertEqual(authenticator.answerProbe(login: "mapped", key: listedKey), .accept)
        XCTAssertEqual(authenticator.answerProbe(login: "mapped", key: otherKey), .refuse)
        XCTAssertEqual(authenticator.answerProbe(login: "alice", key: listedKey), .refuse)
        XCTAssertEqual(authenticator.answerProbe(login: "nobody", key: listedKey), .refuse)
        XCTAssertTrue(connector.connections.isEmpty, "a probe never contacts the upstream")
    }

    func testAVerifiedKeyLogsInWithTheMappedKeyOrWaitsForTheAgent() {
        XCTAssertEqual(rejection(authenticator.authenticate(login: "mapped", verifiedKey: otherKey)), .keyNotListed)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "mapped", verifiedKey: listedKey)), .upstreamDenied)
        connector.acceptsKeyFile = true
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        guard case .accepted = authenticator.authenticate(login: "mapped", verifiedKey: listedKey) else { return XCTFail() }
        XCTAssertEqual(connector.connections.last?.attempts, ["none", "key /keys/mapped"])
        guard case .acceptedPendingAgent(let link, .pinned) = authenticator.authenticate(login: "agent", verifiedKey: listedKey)
        else { return XCTFail("no mapped key: the upstream login waits for the agent") }
        XCTAssertEqual(link.route.login, "agent")
        XCTAssertEqual(routes.route(named: "agent")?.hostKeyFingerprint, connector.hostKey, "pinned before the agent signs anything")
        XCTAssertTrue(authenticator.finishAgentLogin(link, verdict: .pinned, result: .success))
        XCTAssertFalse(authenticator.finishAgentLogin(link, verdict: .pinned, result: .denied))
    }

    func testKeyboardInteractiveRelaysTheUpstreamsQuestionsAndADecoyForUnknownLogins() {
        guard case .ask(let challenge, _) = authenticator.startKeyboardInteractive(login: "alice") else { return XCTFail() }
        XCTAssertEqual(challenge.prompts.map(\.text), ["Password: "])
        guard case .done(.accepted) = authenticator.continueKeyboardInteractive(answers: ["right"]) else { return XCTFail() }

        guard case .ask(let decoy, fromUpstream: false) = authenticator.startKeyboardInteractive(login: "nobody") else { return XCTFail() }
        XCTAssertEqual(decoy, LoginAuthenticator<FakeConnector>.passwordChallenge, "an unknown login sees the same prompt")
        guard case .done(.rejected(.noRoute)) = authenticator.continueKeyboardInteractive(answers: ["right"]) else { return XCTFail() }
    }

    func testAKeyboardInteractiveClientReachesAPasswordOnlyUpstreamWithoutAFailedAttempt() {
        connector.methods = [.password, .publicKey]
        guard case .ask(let challenge, _) = authenticator.startKeyboardInteractive(login: "alice") else { return XCTFail() }
        XCTAssertEqual(challenge, LoginAuthenticator<FakeConnector>.passwordChallenge, "the proxy asks for the password itself")
        guard case .done(.accepted) = authenticator.continueKeyboardInteractive(answers: ["right"]) else { return XCTFail() }
        XCTAssertEqual(connector.connections[0].attempts, ["none", "password"], "keyboard-interactive was never tried upstream")

        guard case .ask = authenticator.startKeyboardInteractive(login: "alice") else { return XCTFail() }
        guard case .done(.rejected(.upstreamDenied)) = authenticator.continueKeyboardInteractive(answers: ["wrong"]) else { return XCTFail() }
    }

    func testAPasswordClientReachesAKeyboardInteractiveUpstream() {
        connector.methods = [.keyboardInteractive]
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "wrong")), .upstreamDenied)
        guard case .accepted = authenticator.authenticate(login: "alice", password: "right") else { return XCTFail() }
        XCTAssertEqual(connector.connections.flatMap(\.attempts).filter { $0 == "password" }, [], "no password attempt upstream")
    }

    func testAnUpstreamAskingMoreThanThePasswordNeedsKeyboardInteractive() {
        connector.methods = [.keyboardInteractive]
        connector.asksForCode = true
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "right")), .upstreamDenied)
        guard case .ask = authenticator.startKeyboardInteractive(login: "alice") else { return XCTFail() }
        XCTAssertEqual(connector.connections.count, 2, "a connection left in the middle of a conversation is not reused")
        guard case .ask(let code, _) = authenticator.continueKeyboardInteractive(answers: ["right"]) else { return XCTFail() }
        XCTAssertEqual(code.prompts.map(\.text), ["Verification code: "])
        guard case .done(.accepted) = authenticator.continueKeyboardInteractive(answers: ["123456"]) else { return XCTFail() }
    }

    func testAnUpstreamThatHangsUpEndsTheLoginWithItsReason() {
        connector.failuresBeforeHangingUp = 2
        XCTAssertEqual(rejection(authenticator.authenticate(login: "alice", password: "wrong")), .upstreamDenied)
        guard case .upstreamHungUp(let reason) = authenticator.authenticate(login: "alice", password: "wrong") else { return XCTFail() }
        XCTAssertEqual(reason, "Too many authentication failures")
    }

    func testTheMethodsOfferedAreTheUpstreamsOwn() {
        connector.methods = [.keyboardInteractive, .publicKey]
        guard case .upstream(let methods) = authenticator.methodsToOffer(login: "alice") else { return XCTFail() }
        XCTAssertEqual(methods, [.publicKey, .keyboardInteractive])
        guard case .noRoute = authenticator.methodsToOffer(login: "nobody") else { return XCTFail() }
        connector.failure = .network(.refused("connection refused"))
        guard case .unavailable(.upstreamUnavailable) = authenticator.methodsToOffer(login: "mapped") else { return XCTFail() }
    }

    func testTheUpstreamsBannerIsHandedOnOnce() {
        connector.banner = "Authorised use only.\n"
        XCTAssertNil(authenticator.takeNewUpstreamContact())
        _ = authenticator.authenticate(login: "alice", password: "wrong")
        XCTAssertEqual(authenticator.takeNewUpstreamContact()?.banner, "Authorised use only.\n")
        _ = authenticator.authenticate(login: "alice", password: "wrong")
        XCTAssertNil(authenticator.takeNewUpstreamContact(), "shown once per connection to the upstream")
    }

    func testABrokenRoutingTableIsNeitherAWrongPasswordNorAMissingKey() {
        routes.setFailing(true)
        guard case .storeUnavailable = authenticator.authenticate(login: "alice", password: "right") else { return XCTFail() }
        guard case .storeUnavailable = authenticator.authenticate(login: "mapped", verifiedKey: listedKey) else { return XCTFail() }
        guard case .done(.storeUnavailable) = authenticator.startKeyboardInteractive(login: "alice") else { return XCTFail() }
        XCTAssertEqual(authenticator.answerProbe(login: "mapped", key: listedKey), .storeUnavailable)
        XCTAssertTrue(connector.connections.isEmpty)
    }

    func testNobodyLogsInAsTheNameOfACatchAllOrPatternRoute() {
        routes = FakeRoutes([
            Route(login: Route.catchAllLogin, upstreamHost: "10.0.0.9"),
            Route(login: "~dev-([a-z]+)", upstreamHost: "10.0.0.7", upstreamUser: "u-$1", matchPriority: 10),
        ])
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "~dev-([a-z]+)", password: "right")), .noRoute)
        XCTAssertEqual(rejection(authenticator.authenticate(login: Route.catchAllLogin, password: "right")), .noRoute)
        guard case .accepted(let link) = authenticator.authenticate(login: "dev-ann", password: "right") else {
            return XCTFail("the pattern serves dev-ann")
        }
        XCTAssertEqual(link.route.effectiveUpstreamUser, "u-ann")
        XCTAssertEqual(link.route.login, "~dev-([a-z]+)", "keys and pins stay the pattern route's")
    }

    func testAnExplicitUpstreamAuthenticationTakesOnlyItsOwnKindOfClient() {
        routes = FakeRoutes(
            [
                Route(login: "pw", upstreamHost: "10.0.0.5", upstreamAuth: .password),
                Route(login: "keyed", upstreamHost: "10.0.0.6", identityFile: "/keys/keyed", upstreamAuth: .key),
                Route(login: "viaagent", upstreamHost: "10.0.0.7", identityFile: "/keys/unused", upstreamAuth: .agent),
                Route(login: "certified", upstreamHost: "10.0.0.8", upstreamAuth: .certificate),
            ],
            keys: ["pw": [listedKey.fingerprint], "keyed": [listedKey.fingerprint], "viaagent": [listedKey.fingerprint],
                   "certified": [listedKey.fingerprint]])
        connector.acceptsKeyFile = true
        authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)

        // password: the upstream decides passwords; keys are not offered and are refused.
        guard case .upstream(let pwMethods) = authenticator.methodsToOffer(login: "pw") else { return XCTFail() }
        XCTAssertFalse(pwMethods.contains(.publicKey))
        XCTAssertEqual(authenticator.answerProbe(login: "pw", key: listedKey), .refuse)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "pw", verifiedKey: listedKey)), .methodNotAllowed)
        guard case .accepted = authenticator.authenticate(login: "pw", password: "right") else { return XCTFail("password route") }

        // key: only key clients, logged in with the route's key; passwords never go upstream.
        guard case .upstream(let keyMethods) = authenticator.methodsToOffer(login: "keyed") else { return XCTFail() }
        XCTAssertEqual(keyMethods, .publicKey)
        XCTAssertEqual(rejection(authenticator.authenticate(login: "keyed", password: "right")), .methodNotAllowed)
        guard case .ask(_, fromUpstream: false) = authenticator.startKeyboardInteractive(login: "keyed") else { return XCTFail() }
        guard case .done(.rejected(.methodNotAllowed)) = authenticator.continueKeyboardInteractive(answers: ["right"]) else {
            return XCTFail("keyboard-interactive answers must not reach a key-only route's upstream")
        }
        guard case .accepted = authenticator.authenticate(login: "keyed", verifiedKey: listedKey) else { return XCTFail("key route") }
        XCTAssertEqual(rejection(authenticator.authenticate(login: "keyed", verifiedKey: otherKey)), .keyNotListed)

        // agent: the client's agent, even though the route has a key file.
        guard case .acceptedPendingAgent = authenticator.authenticate(login: "viaagent", verifiedKey: listedKey) else {
            return XCTFail("an agent route logs in through the client's agent")
        }

        // certificate: a connection that cannot make certificates says so instead of guessing.
        guard case .upstreamUnavailable = authenticator.authenticate(login: "certified", verifiedKey: listedKey) else {
            return XCTFail("no certificate context")
        }
        let passwordAttempts = connector.connections.flatMap(\.attempts).filter { $0 == "password" }
        XCTAssertEqual(passwordAttempts.count, 1, "only the password route's password went upstream")
        XCTAssertFalse(connector.connections.flatMap(\.attempts).contains("key /keys/unused"))
    }
}

/// What the door does with each outcome: who is refused like a wrong password (delayed,
/// counted toward a ban) and who is told that the service or the upstream is unavailable.
final class LoginResponseTests: XCTestCase {
    private let routes = FakeRoutes([Route(login: "alice", upstreamHost: "10.0.0.5")])
    private let connector = FakeConnector()

    private func response(_ attempt: (LoginAuthenticator<FakeConnector>) -> LoginAuthenticator<FakeConnector>.Outcome) -> String {
        let authenticator = LoginAuthenticator(routes: routes, connector: connector, logger: .silent)
        switch attempt(authenticator).response {
        case .accept(let link, let pendingAgent): return "accept \(link.route.login) agent=\(pendingAgent != nil)"
        case .refuse(let reason): return "refuse \(reason.rawValue)"
        case .refuseAndEnd(let reason, let message): return "refuse \(reason.rawValue), then end: \(message)"
        case .end(let reason, let notice): return "end \(reason.rawValue): \(notice)"
        }
    }

    func testWrongCredentialsAndUnknownLoginsAreRefusedAlike() {
        XCTAssertEqual(response { $0.authenticate(login: "alice", password: "right") }, "accept alice agent=false")
        XCTAssertEqual(response { $0.authenticate(login: "alice", password: "wrong") }, "refuse upstream-denied")
        XCTAssertEqual(response { $0.authenticate(login: "nobody", password: "right") }, "refuse no-route")
    }

    func testAnUpstreamThatHangsUpIsARefusalThatEndsTheConnection() {
        connector.failuresBeforeHangingUp = 1
        XCTAssertEqual(response { $0.authenticate(login: "alice", password: "wrong") },
                       "refuse upstream-denied, then end: Too many authentication failures")
    }

    func testAnUnusableUpstreamEndsTheConnectionWithAPlainNotice() {
        connector.failure = .network(.refused("connection refused"))
        XCTAssertEqual(
            response { $0.authenticate(login: "alice", password: "right") },
            "end upstream-unavailable: switchboard: the upstream host refused the connection (alice); please try again later.")
    }

    func testABrokenRoutingTableIsServiceUnavailableNotARefusal() {
        routes.setFailing(true)
        XCTAssertEqual(
            response { $0.authenticate(login: "alice", password: "right") },
            "end store-unavailable: switchboard: the service is temporarily unavailable; please try again later.")
    }
}

/// How a connection counts failed attempts against `--max-auth-tries`.
final class LoginAttemptsTests: XCTestCase {
    func testNoneIsFreeAndOtherRefusalsCountUpToTheLimit() {
        var attempts = LoginAttempts(maximum: 3)
        XCTAssertFalse(attempts.recordRefusal(of: .none))
        XCTAssertFalse(attempts.recordRefusal(of: .password("a")))
        XCTAssertFalse(attempts.recordRefusal(of: .keyboardInteractive(answers: nil)))
        XCTAssertTrue(attempts.recordRefusal(of: .password("b")))
        XCTAssertEqual(attempts.failures, 3)
    }

    func testKeyboardInteractiveAnswersKeepTheLoginInProgress() {
        var attempts = LoginAttempts(maximum: 6)
        XCTAssertEqual(attempts.login(named: "alice"), "alice")
        XCTAssertEqual(attempts.login(named: ""), "alice")
        XCTAssertEqual(attempts.login(named: "bob"), "bob")
    }
}
