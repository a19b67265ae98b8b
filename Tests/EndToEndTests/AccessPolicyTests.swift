import Foundation
import XCTest

/// A route's access rules with real clients: where from (behind a load balancer's PROXY header),
/// when (a schedule with a time zone, judged at a time the test sets), until when, how many at
/// once, and what a session may use; and `route explain` saying what the logins get.
final class AccessPolicyTests: XCTestCase {
    private var lab: Lab!
    private var scratch: TemporaryPath!

    override func setUpWithError() throws {
        lab = try Lab.shared()
        scratch = try TemporaryPath(prefix: "sb-access", create: true)
    }

    /// A proxy whose access rules are judged at `now` (debug builds read SWITCHBOARD_TEST_NOW).
    private func proxy(at now: String? = nil, arguments: [String] = [], sharing other: ProxyProcess? = nil) throws -> ProxyProcess {
        try ProxyProcess(
            arguments: arguments, sharingDataDirectoryWith: other,
            launcher: now.map { ["/usr/bin/env", "SWITCHBOARD_TEST_NOW=\($0)"] } ?? [])
    }

    private func explain(_ proxy: ProxyProcess, _ login: String, _ extra: [String]) throws -> [String: Any] {
        let out = try proxy.mustAdmin(["route", "explain", login, "--json"] + extra)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    private func auditReasons(_ proxy: ProxyProcess) throws -> [String] {
        let out = try proxy.mustAdmin(["sessions", "--json"])
        let records = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        return records.compactMap { $0["end_reason"] as? String }
    }

    func testTheSourceRuleUsesTheAddressTheLoadBalancerGives() throws {
        let proxy = try proxy(arguments: ["--proxy-protocol", "--trusted-proxies", "127.0.0.0/8", "--ban-after", "0"])
        let alice = TestUsers.alice
        try proxy.mustAdmin(["route", "add", alice.name, "127.0.0.1:\(lab.upstreamA.port)", "--allow-from", "203.0.113.0/24,2001:db8::/32"])
        let through = LoadBalancerScript.sshOptions(script: try LoadBalancerScript.install(in: scratch.path))
        let allowed = try Clients(port: proxy.port).ssh(alice.name, alice.password, "echo in", options: through, timeout: 30)
        XCTAssertEqual(allowed.out, "in\n", allowed.err)

        try proxy.mustAdmin(["route", "set", alice.name, "--allow-from", "198.51.100.0/24"])
        let mark = proxy.logMark()
        let refused = try Clients(port: proxy.port).ssh(alice.name, alice.password, "echo in", options: through, timeout: 30)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("Permission denied"), "refused like a wrong password: \(refused.err)")
        XCTAssertTrue(proxy.log(since: mark).contains("reason=access-source"), proxy.log(since: mark))
        XCTAssertTrue(try auditReasons(proxy).contains("access-source"))

        XCTAssertEqual(try explain(proxy, alice.name, ["--from", "203.0.113.9"])["verdict"] as? String, "access-source")
        XCTAssertEqual(try explain(proxy, alice.name, ["--from", "198.51.100.7"])["verdict"] as? String, "allowed")
        try proxy.mustAdmin(["route", "set", alice.name, "--allow-from", "any"])
        XCTAssertEqual(try Clients(port: proxy.port).ssh(alice.name, alice.password, "echo in", options: through, timeout: 30).out, "in\n")
    }

    func testScheduleAndValidityAreJudgedAtTheTimeInTheirZone() throws {
        let alice = TestUsers.alice
        // Monday 30 November 2026, 10:00 in Berlin (09:00 UTC); then Saturday; then Monday 19:30.
        let monday = "2026-11-30T09:00:00Z", saturday = "2026-11-28T09:00:00Z", mondayEvening = "2026-11-30T18:30:00Z"
        var proxy = try proxy(at: monday)
        try proxy.mustAdmin(["route", "add", alice.name, "127.0.0.1:\(lab.upstreamA.port)", "--schedule", "Mon-Fri 08:00-19:00 Europe/Berlin"])
        XCTAssertEqual(try Clients(port: proxy.port).ssh(alice.name, alice.password, "echo in").out, "in\n")
        XCTAssertEqual(try explain(proxy, alice.name, ["--at", monday])["verdict"] as? String, "allowed")

        for (now, verdict) in [(saturday, "access-schedule"), (mondayEvening, "access-schedule")] {
            let next = try self.proxy(at: now, sharing: proxy)
            proxy.stop()
            proxy = next
            let refused = try Clients(port: proxy.port).ssh(alice.name, alice.password, "echo in")
            XCTAssertNotEqual(refused.status, 0, now)
            XCTAssertTrue(refused.err.contains("switchboard: the login \(alice.name) is allowed Mon-Fri 08:00-19:00 Europe/Berlin"), refused.err)
            XCTAssertEqual(try explain(proxy, alice.name, ["--at", now])["verdict"] as? String, verdict)
        }
        XCTAssertTrue(try auditReasons(proxy).contains("access-schedule"))

        // Validity: over from 1 December on.
        try proxy.mustAdmin(["route", "set", alice.name, "--schedule", "always", "--valid-until", "2026-12-01"])
        let afterwards = try self.proxy(at: "2026-12-02T09:00:00Z", sharing: proxy)
        proxy.stop()
        proxy = afterwards
        let expired = try Clients(port: proxy.port).ssh(alice.name, alice.password, "echo in")
        XCTAssertTrue(expired.err.contains("was allowed until 2026-12-01T00:00:00Z"), expired.err)
        XCTAssertEqual(try explain(proxy, alice.name, ["--at", "2026-12-02T09:00:00Z"])["verdict"] as? String, "access-expired")
        XCTAssertEqual(try explain(proxy, alice.name, ["--at", "2026-11-30T09:00:00Z"])["verdict"] as? String, "allowed")
        let text = try proxy.mustAdmin(["route", "explain", alice.name, "--at", "2026-12-02T09:00:00Z"])
        XCTAssertTrue(text.contains("access-expired") && text.contains("refused"), text)
        proxy.stop()
    }

    func testAScheduleThatEndsSessionsEndsThemWhenItsWindowEnds() throws {
        let alice = TestUsers.alice, bob = TestUsers.bob
        // Monday 30 November 2026, ten seconds before 19:00 in Berlin (18:00 UTC): the proxy's
        // clock starts there at its first login and runs on.
        let proxy = try proxy(at: "2026-11-30T17:59:50Z", arguments: ["--schedule-notice", "5"])
        let schedule = "Mon-Fri 08:00-19:00 Europe/Berlin"
        try proxy.mustAdmin(["route", "add", alice.name, "127.0.0.1:\(lab.upstreamA.port)", "--schedule", schedule, "--schedule-ends-sessions", "on"])
        try proxy.mustAdmin(["route", "add", bob.name, "127.0.0.1:\(lab.upstreamA.port)", "--schedule", schedule])
        let clients = Clients(port: proxy.port)
        let activeSessions = { () throws -> Int in
            try proxy.mustAdmin(["sessions", "--active", "--json"]).components(separatedBy: "\"id\"").count - 1
        }
        let cpuTicks = { () throws -> Int in
            let stat = try String(contentsOfFile: "/proc/\(proxy.pid)/stat", encoding: .utf8)
            let fields = stat[stat.index(after: try XCTUnwrap(stat.lastIndex(of: ")")))...].split(separator: " ")
            return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
        }

        let started = Date()
        let ending = try clients.startSSH(alice.name, alice.password, "sleep 60; echo never")
        defer { ending.terminate() }
        let staying = try clients.startSSH(bob.name, bob.password, "sleep 60; echo stayed")
        defer { staying.terminate() }
        let upBy = Date().addingTimeInterval(8)
        while try activeSessions() < 2 && Date() < upBy { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertEqual(try activeSessions(), 2, "both sessions are up: \(ending.stderrSoFar) \(staying.stderrSoFar)")
        let ticksBefore = try cpuTicks()

        let noticeText = "switchboard: this session ends at 19:00 Europe/Berlin (the login's schedule), in "
        let noticeBy = started.addingTimeInterval(15)
        while !ending.stderrSoFar.contains(noticeText) && ending.isRunning && Date() < noticeBy { Thread.sleep(forTimeInterval: 0.05) }
        let noticed = Date()
        XCTAssertTrue(ending.isRunning, "the notice comes before the end: \(ending.stderrSoFar)")
        let notice = ending.stderrSoFar
        XCTAssertTrue(notice.contains(noticeText + "5 seconds") || notice.contains(noticeText + "4 seconds"), notice)
        XCTAssertFalse(staying.stderrSoFar.contains("switchboard:"), "a route without --schedule-ends-sessions gets no notice")

        let session = try ending.wait(timeout: 15)
        let ended = Date()
        XCTAssertNotEqual(session.status, 0)
        XCTAssertTrue(session.err.contains("switchboard: the login's schedule ended this session"), session.err)
        XCTAssertFalse(session.out.contains("never"))
        XCTAssertEqual(ended.timeIntervalSince(noticed), 5, accuracy: 1.5, "the session ends at the window's end, 5 s after the notice")
        XCTAssertLessThan(ended.timeIntervalSince(started), 13)
        XCTAssertLessThan(try cpuTicks() - ticksBefore, 150, "idle sessions waiting for their deadlines cost no CPU")

        Thread.sleep(forTimeInterval: 2)
        XCTAssertTrue(staying.isRunning, "the session of a route without --schedule-ends-sessions goes on past the window's end")
        XCTAssertEqual(try activeSessions(), 1)
        staying.terminate()

        let out = try proxy.mustAdmin(["sessions", "--json"])
        let records = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        let record = try XCTUnwrap(records.first { $0["login"] as? String == alice.name })
        XCTAssertEqual(record["end_reason"] as? String, "access-schedule")
        XCTAssertTrue(proxy.log.contains("reason=access-schedule"), proxy.log)
    }

    func testMaxSessionsCountsRunningSessions() throws {
        let alice = TestUsers.alice
        let proxy = try proxy()
        try proxy.mustAdmin(["route", "add", alice.name, "127.0.0.1:\(lab.upstreamA.port)", "--max-sessions", "1"])
        let clients = Clients(port: proxy.port)
        let holding = try clients.startSSH(alice.name, alice.password, "sleep 30")
        defer { holding.terminate() }
        let deadline = Date().addingTimeInterval(15)
        while try proxy.mustAdmin(["sessions", "--active", "--json"]).contains("\"id\"") == false && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let second = try clients.ssh(alice.name, alice.password, "echo second")
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.err.contains("may have at most 1 session at once"), second.err)
        XCTAssertEqual(try explain(proxy, alice.name, [])["verdict"] as? String, "access-max-sessions")
        holding.terminate()
        _ = try? holding.wait(timeout: 10)
        let after = Date().addingTimeInterval(10)
        var third = try clients.ssh(alice.name, alice.password, "echo third")
        while third.out != "third\n" && Date() < after {
            Thread.sleep(forTimeInterval: 0.3)
            third = try clients.ssh(alice.name, alice.password, "echo third")
        }
        XCTAssertEqual(third.out, "third\n", "the limit frees when the session ends: \(third.err)")
        XCTAssertTrue(try auditReasons(proxy).contains("access-max-sessions"))
    }

    func testAnSFTPOnlyLoginRefusesShellsCommandsAndSCPOverExec() throws {
        let alice = TestUsers.alice
        let proxy = try proxy()
        try proxy.mustAdmin(["route", "add", alice.name, "127.0.0.1:\(lab.upstreamA.port)", "--allow", "sftp"])
        let clients = Clients(port: proxy.port)
        let listing = try clients.sftp(alice.name, alice.password, batch: "pwd\n")
        XCTAssertEqual(listing.status, 0, listing.err)
        XCTAssertTrue(listing.out.contains("/home/\(alice.name)"), listing.out)

        let command = try clients.ssh(alice.name, alice.password, "echo ran")
        XCTAssertNotEqual(command.status, 0)
        XCTAssertFalse(command.out.contains("ran"))
        XCTAssertTrue(command.err.contains("this login may not use commands"), command.err)

        let source = scratch.path + "/file.txt"
        try "payload\n".write(toFile: source, atomically: true, encoding: .utf8)
        let legacy = try Command.run(Programs.sshpass, ["-e", Programs.scp, "-O"] + Clients.commonOptions + [
            "-P", String(proxy.port), source, "\(alice.name)@127.0.0.1:/tmp/sb-access-scp.txt",
        ], environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": alice.password]) { $1 }, timeout: 30)
        XCTAssertNotEqual(legacy.status, 0, "scp over exec must be refused")
        let shell = try clients.ssh(alice.name, alice.password, "", options: ["-tt"])
        XCTAssertTrue(shell.err.contains("may not use a shell") || shell.err.contains("PTY allocation request failed"), shell.err)
        XCTAssertEqual(try explain(proxy, alice.name, [])["allowed_channels"] as? String, "sftp")
    }
}
