import Foundation
import XCTest

/// The admin API and the web console of `serve --admin-listen`, driven over real HTTP (Python's
/// standard library, curl, schemathesis) and in headless Chromium, against a real proxy and a
/// real upstream sshd, with real `ssh` sessions in tmux.
final class AdminAPITests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    /// A proxy with the admin listener on a free loopback port, a recorded route for alice, and
    /// three tokens: `ops` (read-write), `viewer` (read-only) and `retired` (revoked).
    private struct AdminFixture {
        let proxy: ProxyProcess
        let url: String
        let token: String
        let readOnlyToken: String
        let revokedToken: String
        let recordDirectory: TemporaryPath

        /// `ssh` through the proxy as alice, with a terminal and no prompt (sshpass).
        var sshCommand: String {
            (["SSHPASS=\(TestUsers.alice.password)", Programs.sshpass, "-e"]
                + Clients(port: proxy.port).sshCommandLine + ["-t", "\(TestUsers.alice.name)@127.0.0.1"]).joined(separator: " ")
        }
    }

    private func adminFixture(extraArguments: [String] = []) throws -> AdminFixture {
        let adminPort = try FreePort.pick()
        let recordDirectory = try TemporaryPath(prefix: "sb-admin-rec", create: true)
        let proxy = try ProxyProcess(
            arguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--record-dir", recordDirectory.path, "--ban-after", "0"] + extraArguments,
            routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        try FreePort.waitUntilListening(port: adminPort, timeout: 10)
        let token = try proxy.mustAdmin(["token", "create", "--name", "ops"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let readOnly = try proxy.mustAdmin(["token", "create", "--name", "viewer", "--read-only"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let revoked = try proxy.mustAdmin(["token", "create", "--name", "retired"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try proxy.mustAdmin(["token", "revoke", "retired"])
        return AdminFixture(
            proxy: proxy, url: "http://127.0.0.1:\(adminPort)", token: token, readOnlyToken: readOnly, revokedToken: revoked,
            recordDirectory: recordDirectory)
    }

    /// Runs a test script and fails with its whole output if it fails.
    private func runScript(_ arguments: [String], timeout: TimeInterval) throws -> CommandResult {
        let result = try Command.run(arguments[0], Array(arguments.dropFirst()), timeout: timeout)
        print(result.out)
        XCTAssertEqual(result.status, 0, "\(arguments.dropFirst().prefix(2).joined(separator: " ")) failed:\n\(result.out)\n\(result.err)")
        return result
    }

    /// Every endpoint, with its refusals, over real HTTP (Tests/AdminAPI/api_test.py).
    func testEveryEndpointAnswersAndRefusesAsDescribed() throws {
        let fixture = try adminFixture()
        defer { fixture.proxy.stop() }
        let keyDirectory = try TemporaryPath(prefix: "sb-admin-key", create: true)
        let keyPath = keyDirectory.path + "/client_ed25519"
        let keygen = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "api-test", "-f", keyPath], timeout: 30)
        XCTAssertEqual(keygen.status, 0, keygen.err)
        _ = try runScript([
            "/usr/bin/env", "python3", Programs.adminScript("AdminAPI/api_test.py"), "--url", fixture.url, "--token", fixture.token,
            "--token-name", "ops", "--read-only-token", fixture.readOnlyToken, "--revoked-token", fixture.revokedToken,
            "--upstream", "127.0.0.1:\(lab.upstreamA.port)", "--ssh", fixture.sshCommand, "--login", TestUsers.alice.name,
            "--authorized-key", keyPath + ".pub",
        ], timeout: 300)
        let changes = try fixture.proxy.mustAdmin(["token", "changes"])
        XCTAssertTrue(changes.contains("route.create"), changes)
    }

    /// The served description is the repository's file, is valid OpenAPI 3.1, and schemathesis
    /// finds no answer that contradicts it.
    func testOpenAPIDescriptionIsValidAndHoldsUnderFuzzing() throws {
        let fixture = try adminFixture()
        defer { fixture.proxy.stop() }
        let served = try Command.run("/usr/bin/curl", ["-sS", "-f", "\(fixture.url)/v1/openapi.json"], timeout: 15)
        XCTAssertEqual(served.status, 0, served.err)
        let file = try String(contentsOfFile: Programs.adminScript("../Sources/Proxy/Admin/openapi.json"), encoding: .utf8)
        XCTAssertEqual(served.out, file, "the server must serve the repository's description")
        let validation = try Command.run(
            "/usr/bin/env", ["python3", "-m", "openapi_spec_validator", Programs.adminScript("../Sources/Proxy/Admin/openapi.json")], timeout: 60)
        XCTAssertEqual(validation.status, 0, validation.out + validation.err)
        _ = try runScript(
            ["/bin/bash", Programs.adminScript("AdminAPI/schemathesis.sh"), fixture.url, fixture.token, fixture.readOnlyToken], timeout: 600)
        XCTAssertTrue(fixture.proxy.isRunning, "the proxy must survive the fuzzing")
    }

    /// A flood on the admin listener (silent connections, half requests, garbage, more than it
    /// serves at once) costs SSH users nothing, and the listener serves again once it passes.
    func testAFloodOnTheAdminListenerLeavesSSHAlone() throws {
        let fixture = try adminFixture()
        defer { fixture.proxy.stop() }
        let port = Int(fixture.url.split(separator: ":").last ?? "") ?? 0
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        let junk = ["", "GET /v1/routes HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ", "\u{16}\u{03}\u{01}\u{02}\u{00}garbage",
                    "POST /v1/routes HTTP/1.1\r\nHost: a\r\nContent-Length: 999999\r\n\r\n{"]
        for index in 0..<150 {
            guard let fd = FreePort.connectRaw(port: port) else { continue }
            let text = junk[index % junk.count]
            if !text.isEmpty { _ = send(fd, text, text.utf8.count, Int32(MSG_NOSIGNAL)) }
            sockets.append(fd)
        }
        let started = Date()
        let login = try Clients(port: fixture.proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo still-here")
        XCTAssertEqual(login.out, "still-here\n", login.err)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "an SSH login must not wait on the admin listener")
        for fd in sockets { close(fd) }
        sockets = []
        let deadline = Date().addingTimeInterval(20)
        var status = ""
        while Date() < deadline {
            status = try Command.run("/usr/bin/curl", [
                "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(fixture.token)", "\(fixture.url)/v1/whoami",
            ], timeout: 10).out
            if status == "200" { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertEqual(status, "200", "the listener serves again once the flood is gone")
        XCTAssertTrue(fixture.proxy.isRunning)
    }

    /// With a certificate and key the listener speaks TLS only; without them it refuses to
    /// listen anywhere but loopback.
    func testTLSListenerAndThePlainHTTPRule() throws {
        let directory = try TemporaryPath(prefix: "sb-admin-tls", create: true)
        let certificate = directory.path + "/admin.crt"
        let key = directory.path + "/admin.key"
        let openssl = try Command.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ], timeout: 30)
        XCTAssertEqual(openssl.status, 0, openssl.err)
        let fixture = try adminFixture(extraArguments: ["--admin-tls-certificate", certificate, "--admin-tls-key", key])
        defer { fixture.proxy.stop() }
        let https = fixture.url.replacingOccurrences(of: "http://", with: "https://")
        let whoami = try Command.run(
            "/usr/bin/curl", ["-sS", "--cacert", certificate, "-H", "Authorization: Bearer \(fixture.token)", "\(https)/v1/whoami"], timeout: 15)
        XCTAssertEqual(whoami.status, 0, whoami.err)
        XCTAssertTrue(whoami.out.contains("\"name\":\"ops\""), whoami.out)
        let plain = try Command.run("/usr/bin/curl", ["-sS", "-m", "5", "\(fixture.url)/v1/whoami"], timeout: 15)
        XCTAssertNotEqual(plain.status, 0, "plain HTTP to the TLS listener must fail")
        let again = try Command.run(
            "/usr/bin/curl", ["-sS", "--cacert", certificate, "-o", "/dev/null", "-w", "%{http_code}", "\(https)/v1/whoami"], timeout: 15)
        XCTAssertEqual(again.out, "401", "the listener serves the next client after a plain one")

        let refused = try Command.run(Programs.switchboard, ["serve", "--admin-listen", "0.0.0.0:0", "--check-config"], timeout: 15)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("not a loopback address"), refused.err)
        let mismatched = try Command.run(Programs.switchboard, [
            "serve", "--admin-listen", "0.0.0.0:0", "--admin-tls-certificate", certificate, "--check-config",
        ], timeout: 15)
        XCTAssertTrue(mismatched.err.contains("go together"), mismatched.err)
    }

    /// The console in headless Chromium: sign in, a live session appears, watch shows what is
    /// typed, End disconnects the client, replay plays the recording, routes and explain work,
    /// a read-only token sees no writing controls (Tests/Console/console_test.py). Screenshots
    /// go to $SWITCHBOARD_SCREENSHOTS (default .build/console-screenshots).
    func testConsoleInHeadlessChromium() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
        else { throw XCTSkip("chromium and chromium-driver are not installed (scripts/install-deps.sh --test installs them)") }
        let fixture = try adminFixture()
        defer { fixture.proxy.stop() }
        let screenshots = ProcessInfo.processInfo.environment["SWITCHBOARD_SCREENSHOTS"]
            ?? Programs.adminScript("../.build/console-screenshots")
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
        _ = try runScript([
            "/usr/bin/env", "python3", Programs.adminScript("Console/console_test.py"), "--url", fixture.url, "--token", fixture.token,
            "--read-only-token", fixture.readOnlyToken, "--ssh", fixture.sshCommand, "--login", TestUsers.alice.name,
            "--screenshots", screenshots,
        ], timeout: 400)
    }
}
