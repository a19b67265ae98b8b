import Foundation
import XCTest

/// Port forwarding is relayed to the upstream (which does the connecting), per-route policy is
/// enforced with a prompt refusal, and the catch-all route serves logins without a route.
final class ForwardingTests: XCTestCase {
    private var lab: Lab!
    private var scratch: URL!

    override func setUpWithError() throws {
        lab = try Lab.shared()
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-fwd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A small HTTP server on loopback (reachable from the upstream, which shares it here).
    private func startWebServer() throws -> (RunningCommand, Int) {
        try "hello through the tunnel\n".write(to: scratch.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        let port = try FreePort.pick()
        let server = try Command.start("/usr/bin/env", ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1",
                                                        "--directory", scratch.path])
        try FreePort.waitUntilListening(port: port, timeout: 10)
        return (server, port)
    }

    private func curl(_ arguments: [String]) throws -> CommandResult {
        try Command.run("/usr/bin/curl", ["-s", "--max-time", "10"] + arguments, timeout: 20)
    }

    func testLocalAndDynamicForwardsReachAServerThroughTheUpstream() throws {
        let (web, webPort) = try startWebServer()
        defer { web.terminate() }
        let localPort = try FreePort.pick()
        let socksPort = try FreePort.pick()
        let tunnel = try lab.clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "", options: [
            "-N", "-o", "ExitOnForwardFailure=yes", "-L", "\(localPort):127.0.0.1:\(webPort)", "-D", String(socksPort),
        ])
        defer { tunnel.terminate() }
        try FreePort.waitUntilListening(port: localPort, timeout: 15)
        try FreePort.waitUntilListening(port: socksPort, timeout: 15)

        XCTAssertEqual(try curl(["http://127.0.0.1:\(localPort)/index.txt"]).out, "hello through the tunnel\n")
        XCTAssertEqual(try curl(["--socks5-hostname", "127.0.0.1:\(socksPort)", "http://localhost:\(webPort)/index.txt"]).out,
                       "hello through the tunnel\n")
    }

    func testRemoteForwardsWithAFixedPortAndWithPortZero() throws {
        let (web, webPort) = try startWebServer()
        defer { web.terminate() }
        // Fixed port: the upstream listens, a connection there reaches the client's web server.
        let fixedPort = try FreePort.pick()
        let fixed = try lab.clients.ssh(TestUsers.alice.name, TestUsers.alice.password,
                                        "curl -s --max-time 5 http://127.0.0.1:\(fixedPort)/index.txt",
                                        options: ["-o", "ExitOnForwardFailure=yes", "-R", "\(fixedPort):127.0.0.1:\(webPort)"])
        XCTAssertEqual(fixed.out, "hello through the tunnel\n", fixed.err)

        // Port 0: the client is told the port the upstream allocated, and it works.
        let tunnel = try lab.clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "", options: [
            "-N", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=INFO", "-R", "0:127.0.0.1:\(webPort)",
        ])
        defer { tunnel.terminate() }
        var allocated: Int?
        let deadline = Date().addingTimeInterval(15)
        while allocated == nil && Date() < deadline {
            if let match = tunnel.stderrSoFar.firstMatch(of: /Allocated port (\d+) for remote forward/) { allocated = Int(match.1) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let port = try XCTUnwrap(allocated, tunnel.stderrSoFar)
        XCTAssertEqual(try curl(["http://127.0.0.1:\(port)/index.txt"]).out, "hello through the tunnel\n")
    }

    func testRemoteForwardRefusedByPolicy() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-localonly", "127.0.0.1:\(lab.upstreamA.port)",
                                 "--upstream-user", TestUsers.alice.name, "--forwarding", "local"])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-localonly"]) }
        let start = Date()
        let refused = try lab.clients.ssh("sbt-localonly", TestUsers.alice.password, "true",
                                          options: ["-o", "ExitOnForwardFailure=yes", "-R", "\(try FreePort.pick()):127.0.0.1:9"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 8)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("remote port forwarding failed"), refused.err)
    }

    func testUnixSocketForwardingIsRefusedCleanly() throws {
        let socket = "/tmp/sb-fwd-\(UUID().uuidString.prefix(8)).sock"
        let start = Date()
        let refused = try lab.clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "true",
                                          options: ["-o", "ExitOnForwardFailure=yes", "-R", "\(socket):127.0.0.1:9"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 8)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("forwarding failed"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket))
    }

    func testSwitchboardAsAProxyJumpHop() throws {
        let passwordFile = scratch.appendingPathComponent("alice-password").path
        try TestUsers.alice.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let hop = ([Programs.sshpass, "-f", passwordFile] + lab.clients.sshCommandLine + ["-W", "%h:%p", "\(TestUsers.alice.name)@127.0.0.1"])
            .joined(separator: " ")
        // The final host is upstream B, reached directly (not routed) through the proxy as a jump host.
        let result = try Command.run(
            Programs.sshpass, ["-e", Programs.ssh, "-o", "ProxyCommand=\(hop)"] + Clients.commonOptions
                + ["-p", String(lab.upstreamB.port), "\(TestUsers.bob.name)@127.0.0.1", "echo $SWITCHBOARD_UPSTREAM"],
            environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": TestUsers.bob.password]) { $1 }, timeout: 30)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.out, "upstream-b\n")
    }

    func testForwardingPolicyNoneRefusesPromptly() throws {
        let mark = lab.proxy.logMark()
        try lab.proxy.mustAdmin(["route", "add", "sbt-nofwd", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name,
                                 "--forwarding", "none"])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-nofwd"]) }
        XCTAssertTrue(try lab.proxy.mustAdmin(["route", "show", "sbt-nofwd"]).contains("forwarding:      none"))
        let start = Date()
        let refused = try lab.clients.ssh("sbt-nofwd", TestUsers.alice.password, "", options: ["-W", "127.0.0.1:\(lab.upstreamB.port)"],
                                          timeout: 30)
        XCTAssertLessThan(Date().timeIntervalSince(start), 8)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("stdio forwarding failed") || refused.err.contains("administratively prohibited"), refused.err)
        XCTAssertTrue(lab.proxy.log(since: mark).contains("forward.kind=local reason=policy"), "the refusal is logged with its reason")
        // Shells still work on that route.
        XCTAssertEqual(try lab.clients.ssh("sbt-nofwd", TestUsers.alice.password, "echo ok").out, "ok\n")
    }

    func testCatchAllRouteServesLoginsWithoutARoute() throws {
        XCTAssertNotEqual(try lab.clients.ssh(TestUsers.deploy.name, TestUsers.deploy.password, "true").status, 0)
        try lab.proxy.mustAdmin(["route", "add", "*", "127.0.0.1:\(lab.upstreamA.port)"])
        defer { _ = try? lab.proxy.admin(["route", "remove", "*"]) }
        XCTAssertTrue(try lab.proxy.mustAdmin(["route", "list"]).contains("* (catch-all)"))

        let caught = try lab.clients.ssh(TestUsers.deploy.name, TestUsers.deploy.password, "whoami; echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(caught.out, "\(TestUsers.deploy.name)\nupstream-a\n", caught.err)
        let own = try lab.clients.ssh(TestUsers.bob.name, TestUsers.bob.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(own.out, "upstream-b\n", "a login with its own route must keep it")
        let sessions = try lab.proxy.mustAdmin(["sessions", "--json", "--user", TestUsers.deploy.name])
        XCTAssertTrue(sessions.contains("\"login\" : \"\(TestUsers.deploy.name)\""), sessions)
    }
}
