import Foundation
import XCTest

/// Watching a live terminal: `switchboard sessions watch ID` on the proxy's machine (through
/// the control socket, no token) and the API's stream; a watcher that stops reading is dropped
/// and never slows the user's session.
final class LiveWatchTests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    /// The audit id of the one running session of `proxy`, waiting for it to appear.
    private func runningSessionID(of proxy: ProxyProcess) throws -> Int {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let out = try proxy.mustAdmin(["sessions", "--active", "--json"])
            if let first = (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])?.first,
               let id = first["id"] as? Int
            {
                return id
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw HarnessError("no session started")
    }

    func testSessionsWatchShowsWhatIsTypedAndStopsWhenTheSessionEnds() throws {
        // The socket a killed process left behind is cleared at start; `watch` skips such sockets.
        let proxy = try ProxyProcess(routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)], prepare: { directory in
            try FileManager.default.createDirectory(atPath: directory + "/control", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: directory + "/control/serve-4000000.sock", contents: Data())
        })
        defer { proxy.stop() }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: proxy.dataDirectory + "/control"), ["serve-\(proxy.pid).sock"])
        let socket = "sbwatch-\(UUID().uuidString.prefix(6))"
        let tmux = { (arguments: [String]) throws -> CommandResult in
            try Command.run(Programs.tmux, ["-L", socket] + arguments, timeout: 15)
        }
        defer { _ = try? tmux(["kill-server"]) }
        let command = (["SSHPASS=\(TestUsers.alice.password)", Programs.sshpass, "-e"]
            + Clients(port: proxy.port).sshCommandLine + ["-t", "\(TestUsers.alice.name)@127.0.0.1"]).joined(separator: " ")
        XCTAssertEqual(try tmux(["new-session", "-d", "-s", "user", "-x", "100", "-y", "30", command]).status, 0)
        let id = try runningSessionID(of: proxy)

        let watch = try Command.start(Programs.switchboard, ["sessions", "watch", String(id), "--data-dir", proxy.dataDirectory])
        defer { watch.terminate() }
        let started = Date().addingTimeInterval(15)
        while !watch.stderrSoFar.contains("watching session") && watch.isRunning && Date() < started { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(watch.stderrSoFar.contains("watching session \(id) (100x30)"), watch.stderrSoFar)
        _ = try tmux(["send-keys", "-t", "user", "echo watched-$((6*7)); printf '\\033]52;c;c2VjcmV0\\007'", "Enter"])
        let deadline = Date().addingTimeInterval(20)
        while !watch.stdoutSoFar.contains("watched-42") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(watch.stdoutSoFar.contains("watched-42"), "the watcher never saw the typed command's output")
        XCTAssertFalse(watch.stdoutSoFar.contains("\u{1B}]52"), "a clipboard control string must not reach the watcher's terminal")

        let other = try proxy.admin(["sessions", "watch", "999999"])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.err.contains("no session with id 999999"), other.err)

        try proxy.mustAdmin(["sessions", "kill", String(id)])
        let result = try watch.wait(timeout: 15)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.err.contains("the session ended"), result.err)
    }

    /// A watcher that never reads is dropped; the user's 30 MB of terminal output is not held
    /// up by it.
    func testAWatcherThatStopsReadingIsDroppedAndDoesNotSlowTheSession() throws {
        let adminPort = try FreePort.pick()
        let metricsPort = try FreePort.pick()
        let proxy = try ProxyProcess(
            arguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--metrics-listen", "127.0.0.1:\(metricsPort)"],
            routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        defer { proxy.stop() }
        let token = try proxy.mustAdmin(["token", "create", "--name", "ops"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let output = "head -c 22000000 /dev/urandom | base64 -w 0; echo; echo finished-marker"
        let unwatchedStart = Date()
        let unwatched = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, output, options: ["-tt"], timeout: 240)
        let unwatchedSeconds = Date().timeIntervalSince(unwatchedStart)
        XCTAssertTrue(unwatched.out.contains("finished-marker"))
        let user = try Clients(port: proxy.port).startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 3; " + output, options: ["-tt"])
        let id = try runningSessionID(of: proxy)

        let watcher = try XCTUnwrap(FreePort.connectRaw(port: adminPort))
        defer { close(watcher) }
        let request = "GET /v1/sessions/\(id)/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n"
        XCTAssertEqual(send(watcher, request, request.utf8.count, 0), request.utf8.count)
        var head = [UInt8](repeating: 0, count: 512)
        let headCount = recv(watcher, &head, head.count, 0)
        XCTAssertTrue(String(decoding: head.prefix(max(headCount, 0)), as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        // From here on the watcher reads nothing while the user's output flows.

        let started = Date()
        let result = try user.wait(timeout: 240)
        let seconds = Date().timeIntervalSince(started) - 3
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("finished-marker"), "the user's output must arrive whole")
        print(String(format: "30 MB of terminal output: %.1f s unwatched, %.1f s with a stalled watcher", unwatchedSeconds, seconds))
        // Generous: the machine is shared and noisy; a relay that waited for the watcher would
        // never finish at all.
        XCTAssertLessThan(seconds, unwatchedSeconds * 3 + 10)

        var rest: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(watcher, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while true {
            let count = recv(watcher, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            rest += buffer[..<count]
        }
        let text = String(decoding: rest.suffix(4096), as: UTF8.self)
        XCTAssertTrue(text.contains("event: end\ndata: {\"reason\":\"too-slow\"}"), "the stalled watcher must be dropped as too slow")
        XCTAssertTrue(proxy.log.contains("admin watch"), "watching is logged")
        let metrics = try Command.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"], timeout: 10).out
        XCTAssertTrue(metrics.contains("switchboard_watches_ended_total{reason=\"too-slow\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("switchboard_admin_requests_total{status=\"200\"}"), metrics)
        XCTAssertTrue(metrics.contains("switchboard_admin_streams 0"), metrics)
    }

    /// Stream places are taken only by streams that run: HEAD requests and readers that go at
    /// once leave none behind. A stream ends when its token is revoked.
    func testStreamPlacesAreNotLeakedAndARevokedTokenStopsWatching() throws {
        let adminPort = try FreePort.pick()
        let proxy = try ProxyProcess(
            arguments: ["--admin-listen", "127.0.0.1:\(adminPort)"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        defer { proxy.stop() }
        let token = try proxy.mustAdmin(["token", "create", "--name", "watcher"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let user = try Clients(port: proxy.port).startSSH(TestUsers.alice.name, TestUsers.alice.password, "sleep 90", options: ["-tt"])
        defer { user.terminate() }
        let id = try runningSessionID(of: proxy)
        let url = "http://127.0.0.1:\(adminPort)/v1/sessions/\(id)/stream"
        for _ in 0..<40 {
            _ = try Command.run("/usr/bin/curl", ["-s", "-I", "-m", "5", "-H", "Authorization: Bearer \(token)", url], timeout: 10)
            if let fd = FreePort.connectRaw(port: adminPort) {
                let request = "GET /v1/sessions/\(id)/stream HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\n\r\n"
                _ = send(fd, request, request.utf8.count, 0)
                close(fd)
            }
        }
        let stream = try Command.start("/usr/bin/curl", ["-sN", "-m", "60", "-H", "Authorization: Bearer \(token)", url])
        defer { stream.terminate() }
        let deadline = Date().addingTimeInterval(15)
        while !stream.stdoutSoFar.contains("\"version\":2") && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(stream.stdoutSoFar.contains("\"version\":2"), "after 80 aborted requests a stream still gets a place")

        try proxy.mustAdmin(["token", "revoke", "watcher"])
        let result = try stream.wait(timeout: 40)
        XCTAssertTrue(result.out.contains("event: end\ndata: {\"reason\":\"token-revoked\"}"), "a revoked token's stream ends: \(result.out.suffix(300))")
    }
}
