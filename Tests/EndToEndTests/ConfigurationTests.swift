import Foundation
import XCTest

/// `serve --config`: a YAML file with every option, overridden by the environment and flags,
/// checked by --check-config, re-read on SIGHUP; logs as text or JSON.
final class ConfigurationTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func file(_ name: String, _ text: String) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func checkConfig(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try Command.run(
            Programs.switchboard, ["serve", "--check-config", "--data-dir", scratch.path] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, timeout: 20)
    }

    func testCheckConfigAcceptsGoodFilesAndExplainsBadOnes() throws {
        let good = try file("good.yaml", "listen: 127.0.0.1:2299\nidle_timeout: 600\ntrusted_proxies: [10.0.0.0/8]\nlog_format: json\n")
        let result = try checkConfig(["--config", good])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("configuration is valid"))

        let cases: [(String, String)] = [
            ("listen: 127.0.0.1:2299\nidel_timeout: 5\n", "unknown setting \"idel_timeout\""),
            ("max_auth_tries: lots\n", "max_auth_tries"),
            ("ban_window: 0\n", "ban_window"),
            ("listen: \"[::1\"\n", "listen"),
            ("proxy_protocol: true\n", "trusted-proxies"),
            ("trusted_proxies: [not-a-cidr]\n", "invalid trusted proxy"),
            ("log_format: xml\n", "log_format"),
            ("- just\n- a list\n", "mapping"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let bad = try checkConfig(["--config", try file("bad\(index).yaml", text)])
            XCTAssertNotEqual(bad.status, 0, "accepted: \(text)")
            XCTAssertTrue(bad.err.contains(expected), "\(text): \(bad.err)")
        }
        let missing = try checkConfig(["--config", scratch.appendingPathComponent("missing.yaml").path])
        XCTAssertNotEqual(missing.status, 0)
    }

    func testAConfigurationFileOthersCanWriteIsRefused() throws {
        let path = try file("shared.yaml", "idle_timeout: 5\n")
        XCTAssertEqual(chmod(path, 0o666), 0)
        let refused = try checkConfig(["--config", path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("writable by group or others"), refused.err)
        XCTAssertEqual(chmod(path, 0o644), 0)
        XCTAssertEqual(try checkConfig(["--config", path]).status, 0)
    }

    func testFlagsOverrideTheEnvironmentWhichOverridesTheFile() throws {
        let path = try file("layers.yaml", "idle_timeout: 100\nmax_auth_tries: 4\nban_time: 50\n")
        let result = try checkConfig(["--config", path, "--max-auth-tries", "2"],
                                     environment: ["SWITCHBOARD_IDLE_TIMEOUT": "200", "SWITCHBOARD_MAX_AUTH_TRIES": "3"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("idle_timeout: 200"), result.out)
        XCTAssertTrue(result.out.contains("max_auth_tries: 2"), result.out)
        XCTAssertTrue(result.out.contains("ban_time: 50"), result.out)
        XCTAssertTrue(result.out.contains("login_grace_time: 30"), result.out)
    }

    func testSIGHUPAppliesLiveSettings() throws {
        let lab = try Lab.shared()
        let path = try file("live.yaml", "idle_timeout: 0\nban_after: 0\n")
        let proxy = try ProxyProcess(arguments: ["--config", path], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        // The harness gives --listen and --log-level as flags, which win over the file.
        try "idle_timeout: 2\nban_after: 5\nlog_level: notice\nlisten: 127.0.0.1:1\n".write(toFile: path, atomically: true, encoding: .utf8)
        proxy.send(SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while !proxy.log.contains("configuration reloaded") && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(proxy.log.contains("applied=idle_timeout needs_restart=ban_after"), proxy.log)

        let start = Date()
        let idle = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "sleep 20", timeout: 30)
        XCTAssertNotEqual(idle.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "the reloaded idle timeout did not apply")

        try "max_auth_tries: nonsense\n".write(toFile: path, atomically: true, encoding: .utf8)
        proxy.send(SIGHUP)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(proxy.log.contains("configuration reload failed; keeping the running settings"), proxy.log)
        XCTAssertTrue(FreePort.isListening(port: proxy.port))
    }

    func testJSONLogLines() throws {
        let lab = try Lab.shared()
        let proxy = try ProxyProcess(arguments: ["--log-format", "json", "--ban-after", "0"],
                                     routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        XCTAssertEqual(try Clients(port: proxy.port).ssh(TestUsers.alice.name, "wrong", "true").status == 0, false)
        let lines = proxy.log.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 3)
        var sawRefusal = false
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            XCTAssertNotNil(object["msg"])
            XCTAssertNotNil(object["level"])
            XCTAssertNotNil(object["ts"])
            if object["msg"] as? String == "login refused" {
                sawRefusal = true
                XCTAssertEqual(object["reason"] as? String, "upstream-denied")
                XCTAssertEqual(object["route.user"] as? String, TestUsers.alice.name)
            }
        }
        XCTAssertTrue(sawRefusal)
    }
}
