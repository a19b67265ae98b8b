import Foundation
import XCTest

/// An upstream that only allows keyboard-interactive (PAM) works through the proxy: its prompts
/// reach the client and the client's answers reach it.
final class KeyboardInteractiveTests: XCTestCase {
    func testPAMKeyboardInteractiveUpstream() throws {
        let lab = try Lab.shared()
        let upstream = try UpstreamServer(name: "upstream-kbd", authentication: .keyboardInteractiveViaPAM)
        defer { upstream.stop() }
        try lab.proxy.mustAdmin(["route", "add", "sbt-kbd", "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.bob.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-kbd"]) }
        let options = ["-o", "PreferredAuthentications=keyboard-interactive"]

        // The proxy offers what the upstream offers: a client that will only use password is
        // told, as directly, that it cannot (clients that try password regardless have it
        // answer the upstream's one password prompt: LoginAuthenticatorTests).
        let passwordOnly = try lab.clients.ssh(
            "sbt-kbd", TestUsers.bob.password, "whoami", options: ["-o", "PreferredAuthentications=password"])
        XCTAssertNotEqual(passwordOnly.status, 0)
        XCTAssertTrue(passwordOnly.err.contains("Permission denied (publickey,keyboard-interactive)"), passwordOnly.err)

        let login = try lab.clients.ssh("sbt-kbd", TestUsers.bob.password, "whoami; echo $SWITCHBOARD_UPSTREAM", options: options)
        XCTAssertEqual(login.status, 0, login.err)
        XCTAssertEqual(login.out, "\(TestUsers.bob.name)\nupstream-kbd\n")

        let wrong = try lab.clients.ssh("sbt-kbd", "not-bobs-password", "true", options: options)
        XCTAssertNotEqual(wrong.status, 0)
        let unknown = try lab.clients.ssh("sbt-kbd-missing", "not-bobs-password", "true", options: options)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertEqual(wrong.err.replacingOccurrences(of: "sbt-kbd@", with: "USER@"),
                       unknown.err.replacingOccurrences(of: "sbt-kbd-missing@", with: "USER@"),
                       "a missing route must look like a wrong answer")
        XCTAssertFalse(lab.proxy.log.contains("not-bobs-password"), "an answer reached the log")
        XCTAssertFalse(lab.proxy.log.contains(TestUsers.bob.password), "an answer reached the log")
    }
}
