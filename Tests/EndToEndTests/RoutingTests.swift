import Foundation
import XCTest

/// Logins through the proxy land on the routed upstream, as the routed user, and failures
/// look the way a user of an SSH gateway expects.
final class RoutingTests: XCTestCase {
    func testAliceAndBobReachTheirOwnUpstreams() throws {
        let lab = try Lab.shared()
        let alice = try lab.clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo $SWITCHBOARD_UPSTREAM; whoami")
        XCTAssertEqual(alice.status, 0, alice.err)
        XCTAssertEqual(alice.out, "upstream-a\n\(TestUsers.alice.name)\n")
        let bob = try lab.clients.ssh(TestUsers.bob.name, TestUsers.bob.password, "echo $SWITCHBOARD_UPSTREAM; whoami")
        XCTAssertEqual(bob.status, 0, bob.err)
        XCTAssertEqual(bob.out, "upstream-b\n\(TestUsers.bob.name)\n")
    }

    func testUpstreamUserRewrite() throws {
        let lab = try Lab.shared()
        try lab.proxy.mustAdmin(["route", "add", "dave", "127.0.0.1:\(lab.upstreamB.port)", "--upstream-user", TestUsers.deploy.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "dave"]) }
        let result = try lab.clients.ssh("dave", TestUsers.deploy.password, "whoami; echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.out, "\(TestUsers.deploy.name)\nupstream-b\n")
    }

    func testWrongPasswordUnknownUserAndDisabledRouteLookAlike() throws {
        let lab = try Lab.shared()
        let mark = lab.proxy.logMark()
        try lab.proxy.mustAdmin(["route", "add", "sbt-off", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name])
        try lab.proxy.mustAdmin(["route", "set", "sbt-off", "--disable"])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-off"]) }

        let wrongPassword = try lab.clients.ssh(TestUsers.alice.name, "not-the-password", "true")
        let unknownUser = try lab.clients.ssh("nobody-here", TestUsers.alice.password, "true")
        let disabled = try lab.clients.ssh("sbt-off", TestUsers.alice.password, "true")
        for result in [wrongPassword, unknownUser, disabled] {
            XCTAssertNotEqual(result.status, 0)
            XCTAssertEqual(result.out, "")
        }
        func normalised(_ result: CommandResult, _ user: String) -> String {
            result.err.replacingOccurrences(of: user, with: "USER")
        }
        XCTAssertEqual(normalised(wrongPassword, TestUsers.alice.name), normalised(unknownUser, "nobody-here"))
        XCTAssertEqual(normalised(wrongPassword, TestUsers.alice.name), normalised(disabled, "sbt-off"))
        XCTAssertTrue(wrongPassword.err.contains("Permission denied"), wrongPassword.err)

        let log = lab.proxy.log(since: mark)
        XCTAssertTrue(log.contains("reason=upstream-denied"), "operator log names the wrong password")
        XCTAssertTrue(log.contains("reason=no-route"), "operator log names the missing route")
        XCTAssertTrue(log.contains("reason=route-disabled"), "operator log names the disabled route")
        // Absence is checked in the whole log: no password may reach it, from any test.
        let wholeLog = lab.proxy.log
        XCTAssertFalse(wholeLog.contains("not-the-password"), "a password reached the log")
        XCTAssertFalse(wholeLog.contains(TestUsers.alice.password), "a password reached the log")
    }

    func testRouteEditAppliesToTheNextLoginWithoutRestart() throws {
        let lab = try Lab.shared()
        try lab.proxy.mustAdmin(["route", "add", "carol", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "carol"]) }
        let before = try lab.clients.ssh("carol", TestUsers.alice.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(before.out, "upstream-a\n", before.err)

        try lab.proxy.mustAdmin(["route", "set", "carol", "--port", String(lab.upstreamB.port)])
        let after = try lab.clients.ssh("carol", TestUsers.alice.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(after.out, "upstream-b\n", after.err)

        try lab.proxy.mustAdmin(["route", "remove", "carol"])
        let removed = try lab.clients.ssh("carol", TestUsers.alice.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertNotEqual(removed.status, 0)
    }

    func testUpstreamDownIsReportedWhileOthersKeepWorking() throws {
        let lab = try Lab.shared()
        let mark = lab.proxy.logMark()
        let closedPort = try FreePort.pick()
        try lab.proxy.mustAdmin(["route", "add", "sbt-down", "127.0.0.1:\(closedPort)", "--upstream-user", TestUsers.alice.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-down"]) }

        let running = try lab.clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 2; echo still-here")
        Thread.sleep(forTimeInterval: 0.5)
        let down = try Command.run(
            Programs.sshpass, ["-e"] + lab.clients.sshCommandLine.map { $0 == "LogLevel=ERROR" ? "LogLevel=INFO" : $0 }
                + ["sbt-down@127.0.0.1", "true"],
            environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": TestUsers.alice.password]) { $1 },
            timeout: 30)
        XCTAssertEqual(down.status, 255)
        XCTAssertTrue(down.err.contains("upstream host refused the connection"), down.err)
        XCTAssertTrue(lab.proxy.log(since: mark).contains("reason=connection-refused"))

        let finished = try running.wait(timeout: 30)
        XCTAssertEqual(finished.status, 0, finished.err)
        XCTAssertEqual(finished.out, "still-here\n")
        let fresh = try lab.clients.ssh(TestUsers.bob.name, TestUsers.bob.password, "echo ok")
        XCTAssertEqual(fresh.out, "ok\n", fresh.err)
    }

    func testABrokenRoutingDatabaseSaysServiceUnavailableAndBansNobody() throws {
        let lab = try Lab.shared()
        // One counted failure would ban 127.0.0.1: the second attempt proves none was counted.
        let proxy = try ProxyProcess(arguments: ["--ban-after", "1"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let database = proxy.dataDirectory + "/switchboard.db"
        func sql(_ statement: String) throws {
            let result = try Command.run("/usr/bin/sqlite3", [database, statement], timeout: 20)
            XCTAssertEqual(result.status, 0, result.err)
        }
        let clients = Clients(port: proxy.port)
        try sql("ALTER TABLE routes RENAME TO routes_away")
        for attempt in 1...2 {
            let result = try Command.run(
                Programs.sshpass, ["-e"] + clients.sshCommandLine.map { $0 == "LogLevel=ERROR" ? "LogLevel=INFO" : $0 }
                    + ["\(TestUsers.alice.name)@127.0.0.1", "true"],
                environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": TestUsers.alice.password]) { $1 },
                timeout: 30)
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.err.contains("switchboard: the service is temporarily unavailable; please try again later."), "attempt \(attempt): \(result.err)")
            XCTAssertFalse(result.err.contains("Permission denied"), "attempt \(attempt): \(result.err)")
        }
        XCTAssertTrue(proxy.log.contains("reason=store-unavailable"), proxy.log)
        XCTAssertFalse(proxy.log.contains("source banned"), proxy.log)

        try sql("ALTER TABLE routes_away RENAME TO routes")
        let back = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo back")
        XCTAssertEqual(back.out, "back\n", back.err)
    }

    func testUpstreamKilledMidSessionEndsTheClientSessionWithAMessage() throws {
        let lab = try Lab.shared()
        let result = try lab.clients.ssh(
            TestUsers.bob.name, TestUsers.bob.password, "echo before; sleep 1; kill -9 $PPID; sleep 5; echo never", timeout: 30)
        XCTAssertEqual(result.out, "before\n")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("connection to the upstream host was lost"), result.err)
        let fresh = try lab.clients.ssh(TestUsers.bob.name, TestUsers.bob.password, "echo ok")
        XCTAssertEqual(fresh.out, "ok\n", fresh.err)
    }
}
