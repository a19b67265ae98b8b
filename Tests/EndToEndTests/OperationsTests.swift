import Foundation
import XCTest

/// Running the proxy for months: draining on SIGTERM, restarts on a shared port, idle and
/// connection limits.
final class OperationsTests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    /// A proxy with a route for alice to upstream A, or one that restarts `previous` on its data.
    private func routedProxy(_ arguments: [String], listen: String = "127.0.0.1:0", sharingDataDirectoryWith previous: ProxyProcess? = nil)
        throws -> ProxyProcess
    {
        try ProxyProcess(arguments: ["--ban-after", "0"] + arguments,
                         routes: previous == nil ? [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)] : [],
                         listen: listen, sharingDataDirectoryWith: previous)
    }

    func testSIGTERMDrainsRunningSessionsAndRefusesNewOnes() throws {
        let proxy = try routedProxy(["--drain-timeout", "20"])
        let clients = Clients(port: proxy.port)
        let running = try clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 2; echo finished")
        Thread.sleep(forTimeInterval: 1)
        proxy.send(SIGTERM)
        let deadline = Date().addingTimeInterval(1)
        while FreePort.isListening(port: proxy.port) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertFalse(FreePort.isListening(port: proxy.port), "still accepting a second after SIGTERM")
        let session = try running.wait(timeout: 30)
        XCTAssertEqual(session.status, 0, session.err)
        XCTAssertEqual(session.out, "finished\n")
        let exit = try proxy.waitForExit(timeout: 30)
        XCTAssertEqual(exit.status, 0, exit.err)
        XCTAssertTrue(exit.err.contains("draining"))
    }

    func testDrainTimeoutClosesWhatIsLeftWithAMessage() throws {
        let proxy = try routedProxy(["--drain-timeout", "1"])
        let clients = Clients(port: proxy.port)
        let running = try clients.startSSH(
            TestUsers.alice.name, TestUsers.alice.password, "sleep 30; echo never", options: ["-o", "LogLevel=INFO"])
        Thread.sleep(forTimeInterval: 1.5)
        let start = Date()
        proxy.send(SIGTERM)
        let session = try running.wait(timeout: 30)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertNotEqual(session.status, 0)
        XCTAssertEqual(session.out, "")
        XCTAssertTrue(session.err.contains("the proxy is shutting down"), session.err)
        XCTAssertEqual(try proxy.waitForExit(timeout: 30).status, 0)
    }

    func testASecondSignalExitsAtOnce() throws {
        let proxy = try routedProxy(["--drain-timeout", "60"])
        let running = try Clients(port: proxy.port).startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 30")
        defer { running.terminate() }
        Thread.sleep(forTimeInterval: 1.5)
        proxy.send(SIGTERM)
        Thread.sleep(forTimeInterval: 0.3)
        let start = Date()
        proxy.send(SIGINT)
        _ = try proxy.waitForExit(timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testANewProcessTakesOverThePortWhileTheOldOneDrains() throws {
        let old = try routedProxy(["--drain-timeout", "20"])
        let port = old.port
        let fresh = try routedProxy([], listen: "127.0.0.1:\(port)", sharingDataDirectoryWith: old)
        XCTAssertEqual(fresh.port, port)
        let clients = Clients(port: port)
        let running = try clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 2; echo old-session-done")
        Thread.sleep(forTimeInterval: 1)
        old.send(SIGTERM)
        for index in 0..<5 {
            let result = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo \(index)")
            XCTAssertEqual(result.out, "\(index)\n", "login \(index) during the restart: \(result.err)")
        }
        let session = try running.wait(timeout: 30)
        XCTAssertTrue(session.status == 0 && session.out == "old-session-done\n", "\(session.status) \(session.out) \(session.err)")
        XCTAssertEqual(try old.waitForExit(timeout: 30).status, 0)
        XCTAssertEqual(try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo after").out, "after\n")
    }

    func testIdleSessionsAreClosedAfterTheIdleTimeout() throws {
        let proxy = try routedProxy(["--idle-timeout", "2"])
        let clients = Clients(port: proxy.port)
        let start = Date()
        let idle = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "sleep 20; echo never",
                                   options: ["-o", "LogLevel=INFO"], timeout: 30)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertNotEqual(idle.status, 0)
        XCTAssertTrue(idle.err.contains("without traffic"), idle.err)
        XCTAssertTrue(proxy.log.contains("reason=idle-timeout"))
        // Traffic keeps a session alive past the timeout.
        let busy = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password,
                                   "for i in 1 2 3 4; do echo tick; sleep 1; done", timeout: 30)
        XCTAssertEqual(busy.status, 0, busy.err)
        XCTAssertEqual(busy.out, "tick\ntick\ntick\ntick\n")
    }

    func testSessionsAreAuditedWithBytesExitStatusAndReason() throws {
        let proxy = try routedProxy([])
        let clients = Clients(port: proxy.port)
        let finished = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "cat > /dev/null; head -c 5000 /dev/zero; exit 7",
                                       stdin: Data(repeating: 1, count: 3000))
        XCTAssertEqual(finished.status, 7, finished.err)
        let running = try clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 3")
        defer { running.terminate() }
        Thread.sleep(forTimeInterval: 1.5)

        func sessions(_ arguments: [String]) throws -> [[String: Any]] {
            let out = try proxy.mustAdmin(["sessions", "--json"] + arguments)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        }
        let all = try sessions(["--user", TestUsers.alice.name, "--since", "10m"])
        XCTAssertEqual(all.count, 2)
        let done = try XCTUnwrap(all.first { $0["ended_at"] != nil })
        XCTAssertEqual(done["exit_status"] as? String, "7")
        XCTAssertEqual(done["end_reason"] as? String, "client-closed")
        XCTAssertEqual(done["bytes_to_upstream"] as? Int, 3000)
        XCTAssertEqual(done["bytes_to_client"] as? Int, 5000)
        XCTAssertEqual(done["client_address"] as? String, "127.0.0.1")
        XCTAssertEqual(done["upstream_port"] as? Int, lab.upstreamA.port)
        XCTAssertEqual(done["auth_method"] as? String, "password")
        let active = try sessions(["--active"])
        XCTAssertEqual(active.count, 1)
        XCTAssertNil(active.first?["ended_at"])
        XCTAssertEqual(try sessions(["--user", "nobody"]).count, 0)
        XCTAssertTrue(try proxy.mustAdmin(["sessions"]).contains("client-closed"))
        XCTAssertNotEqual(try proxy.admin(["sessions", "--since", "yesterday"]).status, 0)
    }

    func testLooseDataFilePermissionsAreTightenedAtStart() throws {
        let first = try routedProxy([])
        let directory = first.dataDirectory
        XCTAssertEqual(chmod(directory, 0o755), 0)
        XCTAssertEqual(chmod(directory + "/switchboard.db", 0o644), 0)
        XCTAssertEqual(chmod(directory + "/ssh_host_ed25519_key", 0o640), 0)
        let second = try routedProxy([], sharingDataDirectoryWith: first)
        first.stop()
        func mode(_ path: String) throws -> Int {
            try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        XCTAssertEqual(try mode(directory), 0o700)
        XCTAssertEqual(try mode(directory + "/switchboard.db"), 0o600)
        XCTAssertEqual(try mode(directory + "/ssh_host_ed25519_key"), 0o600)
        XCTAssertTrue(second.log.contains("took group and other permissions away"), second.log)
    }

    func testSlowClientsCannotHoldTheHealthEndpoint() throws {
        let metricsPort = try FreePort.pick()
        let proxy = try routedProxy(["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        try FreePort.waitUntilListening(port: metricsPort, timeout: 10)
        // One client dribbles a request a byte every 2 s; three others send nothing at all.
        let silent = (0..<3).compactMap { _ in FreePort.connectRaw(port: metricsPort) }
        defer { silent.forEach { close($0) } }
        let dribbler = try XCTUnwrap(FreePort.connectRaw(port: metricsPort))
        let stop = DispatchSemaphore(value: 0)
        let dribbling = Thread {
            for byte in Array("GET /healthz HTTP/1.1\r\n".utf8) {
                var value = byte
                guard send(dribbler, &value, 1, Int32(MSG_NOSIGNAL)) == 1, stop.wait(timeout: .now() + 2) == .timedOut else { break }
            }
            close(dribbler)
        }
        dribbling.start()
        defer { stop.signal() }
        Thread.sleep(forTimeInterval: 0.5)
        for _ in 0..<3 {
            let check = try Command.run(
                "/usr/bin/curl", ["-s", "-m", "5", "-w", "\n%{http_code} %{time_total}", "http://127.0.0.1:\(metricsPort)/healthz"], timeout: 10)
            let fields = check.out.split(separator: "\n").last?.split(separator: " ") ?? []
            XCTAssertEqual(fields.first, "200", check.out)
            XCTAssertLessThan(Double(fields.last ?? "9") ?? 9, 1.0, "/healthz waited for a slow client")
            Thread.sleep(forTimeInterval: 1)
        }
        XCTAssertTrue(FreePort.isListening(port: proxy.port))
    }

    func testMetricsEndpointReportsTheFamiliesAndChangesWithSessions() throws {
        let metricsPort = try FreePort.pick()
        let proxy = try routedProxy(["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        try FreePort.waitUntilListening(port: metricsPort, timeout: 10)
        func scrape(_ path: String = "/metrics") throws -> CommandResult {
            try Command.run("/usr/bin/curl", ["-s", "-w", "\n%{http_code}", "http://127.0.0.1:\(metricsPort)\(path)"], timeout: 10)
        }
        func value(_ line: String, in text: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        let before = try scrape().out
        XCTAssertTrue(before.hasSuffix("\n200"), before)
        XCTAssertEqual(value("switchboard_sessions_active", in: before), 0)

        let clients = Clients(port: proxy.port)
        XCTAssertEqual(try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "head -c 1000 /dev/zero").status, 0)
        XCTAssertNotEqual(try clients.ssh(TestUsers.alice.name, "wrong", "true").status, 0)
        try proxy.mustAdmin(["route", "add", "sbt-refused", "127.0.0.1:\(try FreePort.pick())"])
        XCTAssertNotEqual(try clients.ssh("sbt-refused", "x", "true").status, 0)
        let running = try clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 3")
        defer { running.terminate() }
        Thread.sleep(forTimeInterval: 1.5)

        let after = try scrape().out
        for family in ["switchboard_connections_accepted_total", "switchboard_authentications_total",
                       "switchboard_sessions_active", "switchboard_upstream_connect_attempts_total",
                       "switchboard_upstream_connect_failures_total", "switchboard_upstream_connect_duration_seconds",
                       "switchboard_bytes_relayed_total", "switchboard_connections_closed_total"] {
            XCTAssertTrue(after.contains("# TYPE \(family)"), "missing \(family):\n\(after)")
        }
        XCTAssertEqual(value("switchboard_sessions_active", in: after), 1)
        XCTAssertEqual(value("switchboard_connections_accepted_total", in: after), 4)
        XCTAssertEqual(value(#"switchboard_authentications_total{method="password",result="accepted"}"#, in: after), 2)
        XCTAssertEqual(value(#"switchboard_authentications_total{method="password",result="rejected"}"#, in: after), 1)
        XCTAssertEqual(value(#"switchboard_upstream_connect_failures_total{reason="connection-refused"}"#, in: after), 1)
        XCTAssertEqual(value(#"switchboard_upstream_connect_failures_total{reason="authentication"}"#, in: after), 1)
        XCTAssertEqual(value(#"switchboard_bytes_relayed_total{direction="to_client"}"#, in: after), 1000)
        XCTAssertEqual(value(#"switchboard_connections_closed_total{reason="client-closed"}"#, in: after), 1)
        XCTAssertEqual(value(#"switchboard_connections_closed_total{reason="client-left-during-login"}"#, in: after), 1)
        XCTAssertEqual(value(#"switchboard_connections_closed_total{reason="upstream-unavailable"}"#, in: after), 1)
        XCTAssertFalse(after.contains(TestUsers.alice.name) || after.contains("127.0.0.1"), "a user or address became a label")

        XCTAssertTrue(try scrape("/healthz").out.hasSuffix("ok\n\n200"))
        XCTAssertTrue(try scrape("/nope").out.hasSuffix("404"))
        proxy.send(SIGTERM)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(try scrape("/healthz").out.hasSuffix("503"), "a draining proxy still reports healthy")
    }

    func testConnectionLimitsRefuseAtAccept() throws {
        let proxy = try routedProxy(["--max-connections-per-source", "1"])
        let holder = try Clients(port: proxy.port).startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 5")
        defer { holder.terminate() }
        Thread.sleep(forTimeInterval: 1.5)
        let refused = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "true")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(proxy.log.contains("reason=max-connections-per-source"))
    }
}
