import Foundation
import XCTest

/// Upstream host keys are verified (pinned, trusted on first use, or refused when changed), and
/// the proxy's own keys and algorithms pass an independent audit.
final class HostKeyTests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    private func routeJSON(_ login: String) throws -> [String: Any] {
        let out = try lab.proxy.mustAdmin(["route", "show", login, "--json"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    /// ssh with INFO logging, so the proxy's notices (banner) are visible.
    private func loginShowingNotices(_ login: String, _ password: String) throws -> CommandResult {
        try Command.run(
            Programs.sshpass, ["-e"] + lab.clients.sshCommandLine.map { $0 == "LogLevel=ERROR" ? "LogLevel=INFO" : $0 }
                + ["\(login)@127.0.0.1", "echo $SWITCHBOARD_UPSTREAM"],
            environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": password]) { $1 }, timeout: 30)
    }

    func testAnUpstreamThatDeniesEveryPasswordIsStillPinnedAtItsFirstKeyExchange() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-mitm", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-mitm"]) }
        let denied = try lab.clients.ssh("sbt-mitm", "not-the-password", "true")
        XCTAssertNotEqual(denied.status, 0)
        XCTAssertEqual(try routeJSON("sbt-mitm")["host_key_fingerprint"] as? String, try lab.upstreamA.hostKeyFingerprint(),
                       "the key that received the password must be pinned")
    }

    func testFirstLoginPinsTheUpstreamKey() throws {
        let mark = lab.proxy.logMark()
        try lab.proxy.mustAdmin(["route", "add", "sbt-tofu", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-tofu"]) }
        XCTAssertNil(try routeJSON("sbt-tofu")["host_key_fingerprint"] as? String)

        let login = try lab.clients.ssh("sbt-tofu", TestUsers.alice.password, "true")
        XCTAssertEqual(login.status, 0, login.err)
        XCTAssertEqual(try routeJSON("sbt-tofu")["host_key_fingerprint"] as? String, try lab.upstreamA.hostKeyFingerprint())
        XCTAssertTrue(try lab.proxy.mustAdmin(["route", "show", "sbt-tofu"]).contains(try lab.upstreamA.hostKeyFingerprint()))

        // The pin now belongs to upstream A: pointing the route at B with the same pin is a changed key.
        try lab.proxy.mustAdmin(["route", "set", "sbt-tofu", "--port", String(lab.upstreamB.port),
                                 "--host-key", try lab.upstreamA.hostKeyFingerprint()])
        let changed = try loginShowingNotices("sbt-tofu", TestUsers.alice.password)
        XCTAssertNotEqual(changed.status, 0)
        XCTAssertTrue(changed.err.contains("upstream host key changed"), changed.err)
        XCTAssertEqual(changed.out, "")
        let log = lab.proxy.log(since: mark)
        let pinned = try lab.upstreamA.hostKeyFingerprint()
        let presented = try lab.upstreamB.hostKeyFingerprint()
        XCTAssertTrue(log.contains("reason=host-key-mismatch"))
        XCTAssertTrue(log.contains("upstream host key \(presented) does not match the pinned \(pinned)"),
                      "the operator's log names both fingerprints")
    }

    func testStrictPolicyNeedsAPinAndRouteTrustProvidesIt() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-strict", "127.0.0.1:\(lab.upstreamB.port)",
                                 "--upstream-user", TestUsers.bob.name, "--host-key-policy", "strict"])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-strict"]) }
        let refused = try loginShowingNotices("sbt-strict", TestUsers.bob.password)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("host key is not trusted"), refused.err)

        let trust = try lab.proxy.mustAdmin(["route", "trust", "sbt-strict"])
        XCTAssertTrue(trust.contains(try lab.upstreamB.hostKeyFingerprint()), trust)
        XCTAssertEqual(try routeJSON("sbt-strict")["host_key_fingerprint"] as? String, try lab.upstreamB.hostKeyFingerprint())
        let accepted = try lab.clients.ssh("sbt-strict", TestUsers.bob.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(accepted.out, "upstream-b\n", accepted.err)
    }

    func testPolicyOffSkipsTheCheckButWarnsAndSendsCredentialsOnlyWhenAllowed() throws {
        let mark = lab.proxy.logMark()
        let route = ["127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name,
                     "--host-key-policy", "off", "--host-key", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
        try lab.proxy.mustAdmin(["route", "add", "sbt-off-keys"] + route)
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-off-keys"]) }
        // By default a password is not handed to an upstream nobody verified.
        let withheld = try loginShowingNotices("sbt-off-keys", TestUsers.alice.password)
        XCTAssertNotEqual(withheld.status, 0)
        XCTAssertEqual(withheld.out, "")
        XCTAssertTrue(withheld.err.contains("your credentials were not sent"), withheld.err)
        XCTAssertTrue(lab.proxy.log(since: mark).contains("reason=credentials-withheld"))

        let trusting = try ProxyProcess(
            arguments: ["--ban-after", "0", "--unverified-upstream-credentials"],
            routes: [RouteSpec("sbt-off-keys", to: route[0], options: Array(route.dropFirst()))])
        let login = try Clients(port: trusting.port).ssh("sbt-off-keys", TestUsers.alice.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(login.out, "upstream-a\n", login.err)
        XCTAssertTrue(trusting.log.contains("upstream host key not verified (policy off)"))
    }

    func testBadFingerprintIsRefusedByTheCLI() throws {
        let result = try lab.proxy.admin(["route", "add", "sbt-badkey", "127.0.0.1:22", "--host-key", "MD5:12:34"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("invalid host key fingerprint"), result.err)
        XCTAssertNotEqual(try lab.proxy.admin(["route", "show", "sbt-badkey"]).status, 0)
    }

    func testProxyHostKeysAreListedAndPrivate() throws {
        let out = try lab.proxy.mustAdmin(["hostkey", "show"])
        XCTAssertTrue(out.contains("ssh-ed25519 SHA256:"), out)
        XCTAssertTrue(out.contains("ssh-rsa SHA256:"), out)
        // Every file in the data directory is private to its owner, whatever created it.
        let directory = lab.proxy.dataDirectory
        let rootMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? NSNumber
        XCTAssertEqual(rootMode?.intValue, 0o700)
        let entries = try XCTUnwrap(FileManager.default.enumerator(atPath: directory)).compactMap { $0 as? String }
        XCTAssertTrue(entries.contains("ssh_host_rsa_key") && entries.contains("switchboard.db"), "\(entries)")
        for entry in entries {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/" + entry)
            let expected = attributes[.type] as? FileAttributeType == .typeDirectory ? 0o700 : 0o600
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, expected, entry)
        }
        let rsa = try Command.run("/usr/bin/ssh-keygen", ["-l", "-f", lab.proxy.dataDirectory + "/ssh_host_rsa_key"])
        XCTAssertTrue(rsa.out.hasPrefix("3072 "), rsa.out)
    }

    /// `--no-rsa-host-key`: clients are offered the ed25519 key alone (libssh copies every
    /// offered host key into each session, so an unused RSA key costs every session memory).
    func testTheRSAHostKeyCanBeLeftOut() throws {
        let proxy = try ProxyProcess(arguments: ["--no-rsa-host-key"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let scan = try Command.run("/usr/bin/ssh-keyscan", ["-p", String(proxy.port), "127.0.0.1"], timeout: 30)
        XCTAssertTrue(scan.out.contains("ssh-ed25519 "), scan.out + scan.err)
        XCTAssertFalse(scan.out.contains("ssh-rsa ") || scan.out.contains("ecdsa-"), scan.out)
        let login = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo in")
        XCTAssertEqual(login.out, "in\n", login.err)
    }

    func testSSHAuditFindsNoFailures() throws {
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        guard let audit = searchPath.map({ "\($0)/ssh-audit" }).first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw HarnessError("ssh-audit is not installed (scripts/install-deps.sh --test installs it)")
        }
        // The rate test measures connection throttling (a separate feature), not the crypto.
        let result = try Command.run(audit, ["-n", "--skip-rate-test", "-p", String(lab.proxy.port), "127.0.0.1"], timeout: 60)
        XCTAssertTrue(result.out.contains("ssh-ed25519"), result.out)
        XCTAssertFalse(result.out.contains("[fail]"), result.out)
        XCTAssertNotEqual(result.status, 3, "ssh-audit reported failures:\n\(result.out)")
        XCTAssertNotEqual(result.status, 1, "ssh-audit could not connect:\n\(result.out)")
    }
}
