import Foundation
import XCTest

/// Clients that break the rules on purpose (paramiko with its politeness turned off), against
/// a proxy watched by a memory checker or by its own metrics.
final class HostilePeerTests: XCTestCase {
    /// A channel request that wants a reply, then CHANNEL_CLOSE at once: the relay must answer
    /// or drop the queued request before the channel is freed, or libssh reads freed memory.
    func testARequestRacingACloseReadsNoFreedMemory() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["ASAN_OPTIONS"] != nil, "valgrind cannot run a sanitizer build")
        let lab = try Lab.shared()
        // valgrind cannot read the debug build's DWARF; a stripped copy runs the same code.
        let scratch = try TemporaryPath(prefix: "sb-valgrind", create: true)
        let binary = scratch.path + "/switchboard"
        let strip = try Command.run("/usr/bin/strip", ["-o", binary, Programs.switchboard])
        XCTAssertEqual(strip.status, 0, strip.err)
        // Made without valgrind: generating the RSA host key under it would take minutes.
        let keys = try ProxyProcess(arguments: ["--ban-after", "0"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let report = scratch.path + "/valgrind.log"
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0"], sharingDataDirectoryWith: keys,
            launcher: ["/usr/bin/valgrind", "--tool=memcheck", "--error-limit=no", "--log-file=\(report)"], binary: binary,
            startupTimeout: 90)
        keys.stop()

        let attack = try Command.run(
            "/usr/bin/env", ["python3", Programs.hostilePeer("request_then_close.py"), String(proxy.port), TestUsers.alice.name,
                                 TestUsers.alice.password, "30"], timeout: 240)
        XCTAssertEqual(attack.out, "ok\n", attack.err)
        proxy.send(SIGTERM)
        _ = try proxy.waitForExit(timeout: 60)
        let lines = try String(contentsOfFile: report, encoding: .utf8).split(separator: "\n")
        let findings = lines.indices.filter {
            lines[$0].contains("Invalid read") || lines[$0].contains("Invalid write") || lines[$0].contains("Invalid free")
        }
        // The first finding with its stacks (where it happened, where the memory was freed).
        let firstReport = findings.first.map { lines[$0..<min(lines.count, $0 + 40)].joined(separator: "\n") } ?? ""
        XCTAssertEqual(findings.count, 0, "valgrind saw the proxy touch freed memory:\n\(firstReport)")
    }

    /// One source holding many half-open logins cannot keep others out: its connections past
    /// the per-source limit are closed at once, while a login from elsewhere goes through.
    func testOneSourceCannotFillTheDoorForOthers() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--max-unauthenticated-per-source", "5", "--login-grace-time", "20"],
            routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let held = (0..<20).compactMap { _ in FreePort.connectRaw(port: proxy.port, from: "127.0.0.2") }
        defer { held.forEach { close($0) } }
        XCTAssertEqual(held.count, 20)
        // An admitted connection gets the proxy's SSH version line; a refused one, the end.
        var refused = 0
        for fd in held {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            var byte: UInt8 = 0
            if poll(&entry, 1, 5000) > 0, recv(fd, &byte, 1, 0) == 0 { refused += 1 }
        }
        XCTAssertEqual(refused, 15, "5 half-open logins are allowed from one source")
        let login = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in")
        XCTAssertEqual(login.out, "in\n", login.err)
        XCTAssertTrue(proxy.log.contains("reason=max-unauthenticated-per-source"), proxy.log)
    }

    /// One source that starts many logins and finishes none cannot fill an upstream's
    /// MaxStartups: the proxy holds at most `max_upstream_startups_per_source` of its
    /// connections to that upstream in their login phase, so a login from elsewhere gets in.
    func testOneSourceCannotFillAnUpstreamsMaxStartups() throws {
        _ = try Lab.shared()
        // Refuses every connection past 6 that has not logged in, as a busy sshd would.
        let narrow = try UpstreamServer(name: "narrow-door", extraConfig: ["MaxStartups 6"])
        defer { narrow.stop() }
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--upstream-connect-timeout", "3", "--max-unauthenticated-per-source", "64"],
            routes: [RouteSpec(TestUsers.alice.name, to: narrow)])
        let attacker = try Command.start(
            "/usr/bin/env", ["python3", Programs.hostilePeer("stalled_logins.py"), String(proxy.port), TestUsers.alice.name, "12", "20"])
        defer { attacker.terminate() }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, attacker.isRunning, !attacker.stderrSoFar.contains("holding") {
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(attacker.stderrSoFar.contains("holding 12"), attacker.stderrSoFar)
        let inLogin = try Command.run("/usr/bin/ss", ["-Htn", "state", "established", "( dport = :\(narrow.port) )"])
        let upstreamConnections = inLogin.out.split(separator: "\n").count
        XCTAssertLessThanOrEqual(upstreamConnections, 4, "one source holds \(upstreamConnections) upstream logins:\n\(inLogin.out)")

        let other = try Clients(port: proxy.port).ssh(
            TestUsers.alice.name, TestUsers.alice.password, "echo in", options: ["-o", "BindAddress=127.0.0.2"])
        XCTAssertEqual(other.out, "in\n", other.err + proxy.log)
        XCTAssertTrue(proxy.log.contains("upstream-busy"), proxy.log)
    }

    /// A ban decided while a connection is open ends it at its next attempt.
    func testABanAppliesToTheNextAttemptOnAnOpenConnection() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "2", "--max-auth-tries", "10"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let guesses = try Command.run(
            "/usr/bin/env", ["python3", Programs.hostilePeer("password_guesses.py"), String(proxy.port), TestUsers.alice.name, "6"],
            timeout: 60)
        let answered = Int(guesses.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        XCTAssertTrue((2..<6).contains(answered), "the client was answered \(answered) times: \(guesses.err)")
        let log = proxy.log
        XCTAssertEqual(log.components(separatedBy: "reason=upstream-denied").count - 1, 2, "attempts went on after the ban:\n\(log)")
        XCTAssertTrue(log.contains("login refused: the source is banned"), log)
        XCTAssertTrue(log.contains("reason=banned route.user=\(TestUsers.alice.name) session.id=1 connection ended"), log)
    }

    /// Channel opens are capped per connection: past the cap they are refused at once, and
    /// the connection, flooded with requests too, still works.
    func testChannelFloodsAreCappedAndTheConnectionSurvivesARequestFlood() throws {
        _ = try Lab.shared()
        let roomy = try UpstreamServer(name: "many-sessions", extraConfig: ["MaxSessions 500"])
        defer { roomy.stop() }
        let proxy = try ProxyProcess(arguments: ["--ban-after", "0"], routes: [RouteSpec(TestUsers.alice.name, to: roomy)])
        let flood = try Command.run(
            "/usr/bin/env", ["python3", Programs.hostilePeer("flood.py"), String(proxy.port), TestUsers.alice.name,
                             TestUsers.alice.password, "200", "2000", "4096"], timeout: 240)
        XCTAssertEqual(flood.status, 0, flood.out + flood.err)
        XCTAssertTrue(flood.out.hasPrefix("opened=128 "), "channels past 128 must be refused: \(flood.out)")
        XCTAssertTrue(flood.out.hasSuffix("ok\n"), flood.out)
    }

    /// A client that advertises a huge window and stops reading its socket while the upstream
    /// streams: the proxy stops reading the upstream instead of queueing its output in memory.
    func testAClientThatStopsReadingCannotGrowTheProxy() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["ASAN_OPTIONS"] != nil, "a sanitizer build's memory is not the proxy's")
        let (proxy, before) = try proxyForAMemoryAttack()
        let attacker = try Command.start(
            "/usr/bin/env", ["python3", Programs.hostilePeer("stop_reading.py"), String(proxy.port), TestUsers.alice.name,
                             TestUsers.alice.password])
        defer {
            kill(attacker.pid, SIGKILL)
            attacker.terminate()
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, attacker.isRunning,
              (try? String(contentsOfFile: "/proc/\(attacker.pid)/stat", encoding: .utf8))?.contains(") T ") != true {
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(attacker.isRunning, attacker.stderrSoFar)
        Thread.sleep(forTimeInterval: 5)
        let grown = try memoryKiB("VmHWM", of: proxy.pid) - before
        print("stopped reader: the proxy's peak grew by \(grown) KiB")
        XCTAssertLessThan(grown, 16 * 1024, "a client that stopped reading grew the proxy by \(grown) KiB")
        let other = try Clients(port: proxy.port).ssh(TestUsers.bob.name, TestUsers.bob.password, "head -c 1000000 /dev/zero | wc -c")
        XCTAssertEqual(other.out.trimmingCharacters(in: .whitespacesAndNewlines), "1000000", other.err)
    }

    /// A client that ignores its windows on 10 channels is disconnected as soon as one channel
    /// receives more than libssh granted it, long before it costs the process much memory.
    func testAClientThatIgnoresItsWindowsIsDisconnected() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["ASAN_OPTIONS"] != nil, "a sanitizer build's memory is not the proxy's")
        let (proxy, before) = try proxyForAMemoryAttack()
        let attack = try Command.run(
            "/usr/bin/env", ["python3", Programs.hostilePeer("ignore_window.py"), String(proxy.port), TestUsers.alice.name,
                             TestUsers.alice.password, "10", "256"], timeout: 240)
        let sent = Int(attack.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let grown = try memoryKiB("VmHWM", of: proxy.pid) - before
        print("window-ignoring client: sent \(sent) MiB before the proxy closed; the proxy's peak grew by \(grown) KiB")
        XCTAssertLessThan(sent, 256, "the proxy took everything: \(attack.err)")
        XCTAssertLessThan(grown, 16 * 1024, "a window-ignoring client grew the proxy by \(grown) KiB")
        XCTAssertTrue(proxy.log.contains("reason=window-overrun"), proxy.log)
        let other = try Clients(port: proxy.port).ssh(TestUsers.bob.name, TestUsers.bob.password, "echo fine")
        XCTAssertEqual(other.out, "fine\n", other.err)
    }

    /// Honest but slow transfers, a download read slowly by the client and an upload read
    /// slowly by the upstream program: the proxy holds what the windows allow and no more, so
    /// its memory barely grows and the client is held back about as much as when it talks to
    /// sshd directly.
    func testSlowReadersOnEitherSideCostTheProxyLittle() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["ASAN_OPTIONS"] != nil, "a sanitizer build's memory is not the proxy's")
        let lab = try Lab.shared()
        for mode in ["download", "upload"] {
            let (proxy, before) = try proxyForAMemoryAttack()
            let run = { (port: Int) in
                try Command.run(
                    "/usr/bin/env", ["python3", Programs.hostilePeer("slow_peer.py"), String(port), TestUsers.alice.name,
                                     TestUsers.alice.password, mode, "5"], timeout: 120)
            }
            let throughProxy = try run(proxy.port)
            let grown = try memoryKiB("VmHWM", of: proxy.pid) - before
            let direct = try run(lab.upstreamA.port)
            print("slow \(mode): through the proxy \(throughProxy.out.trimmingCharacters(in: .newlines)), "
                  + "directly \(direct.out.trimmingCharacters(in: .newlines)); the proxy's peak grew by \(grown) KiB")
            XCTAssertTrue(throughProxy.out.hasPrefix("moved="), throughProxy.err)
            XCTAssertLessThan(grown, 16 * 1024, "a slow \(mode) grew the proxy by \(grown) KiB")
            proxy.stop()
        }
    }

    /// A proxy routing alice (the attacker) and bob (another user), and its resident memory
    /// before the attack, in KiB.
    private func proxyForAMemoryAttack() throws -> (ProxyProcess, Int) {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0"],
            routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA), RouteSpec(TestUsers.bob.name, to: lab.upstreamB)])
        return (proxy, try memoryKiB("VmRSS", of: proxy.pid))
    }

    /// A memory figure of a process from /proc/PID/status: VmRSS now, VmHWM its peak.
    private func memoryKiB(_ field: String, of pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
}

