import Foundation
import XCTest

/// The proxy serves many users at once, survives bad clients, and returns to its baseline
/// of descriptors and threads afterwards.
final class ResourceTests: XCTestCase {
    func testTwentyConcurrentSessions() throws {
        let lab = try Lab.shared()
        let runs = try (0..<20).map { index in
            let (user, password) = index.isMultiple(of: 2) ? TestUsers.alice : TestUsers.bob
            return try lab.clients.startSSH(user, password, "sleep 1; echo session-\(index) $SWITCHBOARD_UPSTREAM")
        }
        for (index, run) in runs.enumerated() {
            let result = try run.wait(timeout: 90)
            XCTAssertEqual(result.status, 0, result.err)
            XCTAssertEqual(result.out, "session-\(index) \(index.isMultiple(of: 2) ? "upstream-a" : "upstream-b")\n")
        }
    }

    func testDescriptorsAndThreadsReturnToBaselineAfterFortySessions() throws {
        let lab = try Lab.shared()
        // One login first so lazily opened files (database, libssh state) are part of the baseline.
        _ = try lab.clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "true")
        let baseline = try settled { (lab.proxy.openDescriptors, lab.proxy.threads) }

        for batch in 0..<4 {
            let runs = try (0..<10).map { index in
                try lab.clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "echo \(batch)-\(index)")
            }
            for run in runs { XCTAssertEqual(try run.wait(timeout: 60).status, 0) }
        }
        _ = try lab.clients.ssh("no-such-route", "x", "true")
        let after = try settled { (lab.proxy.openDescriptors, lab.proxy.threads) }
        XCTAssertEqual(after.0, baseline.0, "open descriptors before \(baseline.0), after \(after.0)")
        XCTAssertEqual(after.1, baseline.1, "threads before \(baseline.1), after \(after.1)")
    }

    func testGarbageAndSilentClientsCostOnlyThemselves() throws {
        let lab = try Lab.shared()
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for index in 0..<30 {
            let fd = try XCTUnwrap(FreePort.connectRaw(port: lab.proxy.port))
            let junk: String = switch index % 3 {
            case 0: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            case 1: "SSH-2.0-fake\r\n\u{0}\u{0}\u{0}\u{ff}garbage-garbage"
            default: ""
            }
            _ = junk.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            sockets.append(fd)
        }
        let start = Date()
        let result = try lab.clients.ssh(TestUsers.bob.name, TestUsers.bob.password, "echo served")
        XCTAssertEqual(result.out, "served\n", result.err)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertTrue(FreePort.isListening(port: lab.proxy.port))
    }

    func testStormOfBadConnectionsAlongsideRealSessions() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(arguments: ["--login-grace-time", "3", "--max-connections-per-source", "0",
                                                 "--max-unauthenticated-per-source", "0", "--ban-after", "0"],
                                     routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let clients = Clients(port: proxy.port)
        _ = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "true")
        let baseline = try settled { (proxy.openDescriptors, proxy.threads) }

        let junk: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: gateway\r\n\r\n".utf8),
            Array("SSH-2.0-storm\r\n".utf8) + (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 7) },
            Array("SSH-2.0-trunc".utf8),
            [],
        ]
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for index in 0..<300 {
            let fd = try XCTUnwrap(FreePort.connectRaw(port: proxy.port))
            let bytes = junk[index % junk.count]
            if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            // Every fourth one hangs up at once; the silent ones stay until the grace time.
            if index % 4 == 2 {
                close(fd)
            } else {
                sockets.append(fd)
            }
        }
        for round in 0..<5 {
            let start = Date()
            let result = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo real-\(round)")
            XCTAssertEqual(result.out, "real-\(round)\n", result.err)
            XCTAssertLessThan(Date().timeIntervalSince(start), 10, "a real login took too long during the storm")
        }
        XCTAssertTrue(FreePort.isListening(port: proxy.port))
        sockets.forEach { close($0) }
        sockets.removeAll()
        Thread.sleep(forTimeInterval: 4)
        let after = try settled { (proxy.openDescriptors, proxy.threads) }
        XCTAssertEqual(after.0, baseline.0, "open descriptors before \(baseline.0), after \(after.0)")
        XCTAssertEqual(after.1, baseline.1, "threads before \(baseline.1), after \(after.1)")
    }

    func testAnIdleSessionCostsNoCPU() throws {
        let lab = try Lab.shared()
        let idle = try lab.clients.startSSH(TestUsers.alice.name, TestUsers.alice.password, "echo ready; sleep 4")
        defer { idle.terminate() }
        Thread.sleep(forTimeInterval: 1.5)
        let before = try cpuTicks(of: lab.proxy.pid)
        Thread.sleep(forTimeInterval: 2)
        let used = try cpuTicks(of: lab.proxy.pid) - before
        // 100 ticks per second: a busy loop would use ~200 here; a sleeping relay uses ~0.
        XCTAssertLessThanOrEqual(used, 3, "the proxy used \(used) CPU ticks in 2 s with one idle session")
        XCTAssertEqual(try idle.wait(timeout: 20).status, 0)
    }

    func testMaxAuthTriesEndsTheConnection() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(arguments: ["--max-auth-tries", "2", "--ban-after", "0"],
                                     routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        // ssh asks this program for every password prompt (sshpass answers only the first).
        let askpass = FileManager.default.temporaryDirectory.appendingPathComponent("sb-askpass-\(UUID().uuidString)").path
        try "#!/bin/sh\necho wrong-password\n".write(toFile: askpass, atomically: true, encoding: .utf8)
        chmod(askpass, 0o700)
        defer { try? FileManager.default.removeItem(atPath: askpass) }
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_ASKPASS"] = askpass
        environment["SSH_ASKPASS_REQUIRE"] = "force"
        let result = try Command.run(
            Programs.ssh, ["-o", "NumberOfPasswordPrompts=5"] + Clients(port: proxy.port).sshCommandLine.dropFirst()
                + ["\(TestUsers.alice.name)@127.0.0.1", "true"],
            environment: environment, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(proxy.log.components(separatedBy: "reason=upstream-denied").count - 1, 2, proxy.log)
        XCTAssertTrue(proxy.log.contains("reason=max-auth-tries"))
    }

    func testSilentClientsAreCutAtTheLoginGraceTime() throws {
        let proxy = try ProxyProcess(arguments: ["--login-grace-time", "2"])
        let fd = try XCTUnwrap(FreePort.connectRaw(port: proxy.port))
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        // The proxy sends its version banner, then must hang up on a client that says nothing.
        while recv(fd, &buffer, buffer.count, 0) > 0 {}
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(elapsed, 1.5)
        XCTAssertLessThan(elapsed, 6, "a silent client was kept for \(elapsed) s with a 2 s grace time")
    }

    func testAtTheDescriptorLimitTheAcceptLoopWaitsInsteadOfSpinning() throws {
        let lab = try Lab.shared()
        // prlimit execs the proxy, so it keeps prlimit's pid. An explicit --max-connections is
        // obeyed even beyond what the limit carries, which is what runs it out of descriptors.
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--max-connections", "1000", "--max-connections-per-source", "0",
                        "--max-unauthenticated", "1000", "--max-unauthenticated-per-source", "0"],
            routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)], launcher: ["/usr/bin/prlimit", "--nofile=256"])
        var idle: [Int32] = []
        defer { idle.forEach { close($0) } }
        for _ in 0..<300 {
            if let fd = FreePort.connectRaw(port: proxy.port) { idle.append(fd) }
        }
        XCTAssertEqual(idle.count, 300)
        Thread.sleep(forTimeInterval: 1)
        let before = try cpuTicks(of: proxy.pid)
        Thread.sleep(forTimeInterval: 3)
        let used = try cpuTicks(of: proxy.pid) - before
        XCTAssertLessThan(used, 15, "the proxy used \(used) ticks of 300 (100 per second) while out of descriptors")
        XCTAssertTrue(proxy.log.contains("out of file descriptors"), proxy.log)

        idle.forEach { close($0) }
        idle = []
        var login = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in", timeout: 30)
        for _ in 0..<10 where login.out != "in\n" {
            Thread.sleep(forTimeInterval: 1)
            login = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in", timeout: 30)
        }
        XCTAssertEqual(login.out, "in\n", login.err)
    }

    func testTheDefaultConnectionLimitFitsTheDescriptorLimit() throws {
        let proxy = try ProxyProcess(launcher: ["/usr/bin/prlimit", "--nofile=256"])
        XCTAssertTrue(proxy.log.contains("limit=256 max_connections=64"), proxy.log)
    }

    /// User plus system CPU time of a process, in clock ticks (from /proc/PID/stat).
    private func cpuTicks(of pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try XCTUnwrap(stat.lastIndex(of: ")")))...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    /// Reads a measurement until it stops changing (sessions finish asynchronously).
    private func settled(_ measure: () -> (Int, Int)) throws -> (Int, Int) {
        var last = measure()
        var stableSince = Date()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            let now = measure()
            if now != last {
                last = now
                stableSince = Date()
            } else if Date().timeIntervalSince(stableSince) > 1.5 {
                return now
            }
        }
        return last
    }
}

/// Repeated failed logins from one address get it banned for a while, then let back in.
final class BanTests: XCTestCase {
    func testRepeatedFailuresBanTheSourceUntilTheBanExpires() throws {
        let upstream = try Lab.shared().upstreamA
        let proxy = try ProxyProcess(arguments: ["--ban-after", "3", "--ban-window", "60", "--ban-time", "4"],
                                     routes: [RouteSpec(TestUsers.alice.name, to: upstream)])
        let clients = Clients(port: proxy.port)
        for _ in 0..<3 {
            XCTAssertNotEqual(try clients.ssh(TestUsers.alice.name, "wrong-password", "true").status, 0)
        }
        let banned = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in")
        XCTAssertNotEqual(banned.status, 0, "a banned source logged in")
        XCTAssertEqual(banned.out, "")
        XCTAssertTrue(proxy.log.contains("reason=banned"))
        XCTAssertTrue(proxy.log.contains("source banned after repeated failed logins"))

        Thread.sleep(forTimeInterval: 4.5)
        let after = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in")
        XCTAssertEqual(after.out, "in\n", after.err)
    }
}
