import Foundation
import XCTest

/// Logins through the proxy behave like logins straight to the upstream: a default client is
/// never refused on its way in, too many failures end as OpenSSH ends them, and the
/// upstream's banner is shown.
final class LoginParityTests: XCTestCase {
    /// `ssh` as a user runs it: no preferred methods, so keyboard-interactive comes before
    /// password; the password is typed by sshpass at whichever prompt comes.
    private func defaultClientLogin(port: Int, user: String, password: String) throws -> (CommandResult, TimeInterval) {
        var environment = ProcessInfo.processInfo.environment
        environment["SSHPASS"] = password
        let started = Date()
        let result = try Command.run(
            Programs.sshpass,
            ["-e", Programs.ssh, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "PubkeyAuthentication=no", "-p", String(port), "\(user)@127.0.0.1", "true"],
            environment: environment, timeout: 60)
        return (result, Date().timeIntervalSince(started))
    }

    /// Stock `ssh` tries keyboard-interactive first. A password-only upstream (Debian's
    /// default) gets the password the proxy asked for, so the login is never a failure: twelve
    /// in a row from one address stay clear of the ban (10 failures) and of the failure delay.
    func testDefaultClientLoginsAreNeverCountedAsFailures() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(arguments: [], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        var throughProxy: [TimeInterval] = []
        var direct: [TimeInterval] = []
        for attempt in 1...12 {
            let (login, seconds) = try defaultClientLogin(port: proxy.port, user: TestUsers.alice.name, password: TestUsers.alice.password)
            XCTAssertEqual(login.status, 0, "login \(attempt): \(login.err)")
            throughProxy.append(seconds)
            direct.append(try defaultClientLogin(port: lab.upstreamA.port, user: TestUsers.alice.name, password: TestUsers.alice.password).1)
        }
        let median = { (values: [TimeInterval]) in values.sorted()[values.count / 2] }
        print(String(format: "default-client login: median %.3f s through the proxy, %.3f s direct", median(throughProxy), median(direct)))
        XCTAssertFalse(proxy.log.contains("login refused"), proxy.log)
        XCTAssertFalse(proxy.log.contains("reason=ban"), proxy.log)
    }

    /// An upstream that hangs up at its MaxAuthTries ends the client's login at once, in
    /// OpenSSH's words, instead of after the upstream timeout with a misleading message.
    func testTooManyFailuresEndPromptlyInOpenSSHsWords() throws {
        _ = try Lab.shared()
        let strict = try UpstreamServer(name: "three-tries", extraConfig: ["MaxAuthTries 3"])
        defer { strict.stop() }
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--max-auth-tries", "10"], routes: [RouteSpec(TestUsers.alice.name, to: strict)])
        let scratch = try TemporaryPath(prefix: "sb-askpass", create: true)
        let askpass = scratch.path + "/askpass"
        try "#!/bin/sh\necho not-the-password\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o755)
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_ASKPASS"] = askpass
        environment["SSH_ASKPASS_REQUIRE"] = "force"
        environment["DISPLAY"] = ":0"
        let started = Date()
        let login = try Command.run(
            Programs.ssh,
            ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password",
             "-o", "NumberOfPasswordPrompts=6", "-p", String(proxy.port), "\(TestUsers.alice.name)@127.0.0.1", "true"],
            environment: environment, timeout: 60)
        let seconds = Date().timeIntervalSince(started)
        print(String(format: "three wrong passwords against MaxAuthTries 3: ended after %.2f s", seconds))
        XCTAssertNotEqual(login.status, 0)
        XCTAssertTrue(login.err.contains("Too many authentication failures"), login.err)
        XCTAssertFalse(login.err.contains("failed during login"), login.err)
        XCTAssertLessThan(seconds, 9, "the end waited for the upstream timeout (10 s)")
    }

    /// The upstream's pre-login banner (sshd's `Banner`, often a legal notice) is shown to the
    /// client, as a direct login shows it.
    func testTheUpstreamsBannerReachesTheClient() throws {
        _ = try Lab.shared()
        let scratch = try TemporaryPath(prefix: "sb-banner", create: true)
        let bannerFile = scratch.path + "/banner"
        try "Authorised use only. Activity is logged.\n".write(toFile: bannerFile, atomically: true, encoding: .utf8)
        let bannered = try UpstreamServer(name: "bannered", extraConfig: ["Banner \(bannerFile)"])
        defer { bannered.stop() }
        let proxy = try ProxyProcess(arguments: [], routes: [RouteSpec(TestUsers.alice.name, to: bannered)])
        let options = ["-o", "LogLevel=INFO"]
        let direct = try Clients(port: bannered.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "true", options: options)
        XCTAssertTrue(direct.err.contains("Authorised use only."), "the lab's sshd shows it directly: \(direct.err)")
        let login = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in", options: options)
        XCTAssertEqual(login.out, "in\n", login.err)
        XCTAssertTrue(login.err.contains("Authorised use only. Activity is logged."), login.err)
    }

    /// A name without a route is refused after about as long as a real upstream takes to
    /// refuse a wrong password (here PAM's delay), for both password and keyboard-interactive
    /// clients, so response time does not tell which names exist.
    func testUnknownNamesAreRefusedAsSlowlyAsWrongPasswords() throws {
        let lab = try Lab.shared()
        let pam = try UpstreamServer(name: "pam-timing", authentication: .keyboardInteractiveViaPAM)
        defer { pam.stop() }
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--max-auth-tries", "20"], routes: [RouteSpec("sbt-timed", to: pam, options: ["--upstream-user", TestUsers.bob.name])])
        _ = lab
        // A longer run for figures: SWITCHBOARD_TIMING_TRIES=30.
        let tries = ProcessInfo.processInfo.environment["SWITCHBOARD_TIMING_TRIES"] ?? "4"
        for method in ["password", "keyboard-interactive"] {
            let run = try Command.run(
                "/usr/bin/env", ["python3", Programs.parityClient("login_timing.py"), String(proxy.port), tries, method,
                                 "sbt-timed", "sbt-nobody-here"], timeout: 900)
            let seconds = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: [Double]], run.err)
            let routed = try XCTUnwrap(seconds["sbt-timed"]).sorted()
            let unknown = try XCTUnwrap(seconds["sbt-nobody-here"]).sorted()
            let median = { (values: [Double]) in values[values.count / 2] }
            print(String(format: "refusal times, %@: routed median %.3f s (%.3f–%.3f), unknown median %.3f s (%.3f–%.3f)",
                         method, median(routed), routed.first!, routed.last!, median(unknown), unknown.first!, unknown.last!))
            // An unknown name's refusal takes times drawn from what the upstream recently took
            // (not the proxy's fixed second): its median lies within what the routed name saw.
            let (low, high) = (routed.first! - 0.2, routed.last! + 0.2)
            XCTAssertTrue((low...high).contains(median(unknown)), "\(method): routed \(routed) vs unknown \(unknown)")
        }
    }

    /// When the upstream ends the connection on purpose (sshd refuses a second terminal on one
    /// channel by disconnecting), the client is given the upstream's reason, as directly.
    func testAnUpstreamsDisconnectReasonReachesTheClient() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(arguments: [], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let run = { (port: Int) in
            try Command.run("/usr/bin/env", ["python3", Programs.parityClient("second_pty.py"), String(port), TestUsers.alice.name,
                                             TestUsers.alice.password], timeout: 60)
        }
        let direct = try run(lab.upstreamA.port)
        XCTAssertTrue(direct.out.contains("you already have a pty"), "sshd itself: \(direct.out) \(direct.err)")
        let throughProxy = try run(proxy.port)
        XCTAssertEqual(throughProxy.out, direct.out, throughProxy.err + proxy.log)
    }
}
