import Foundation
import XCTest

/// Public-key clients: only keys listed for the route get in, and the proxy logs in upstream
/// with the route's mapped key.
final class KeyAuthTests: XCTestCase {
    private var lab: Lab!
    private var scratch: URL!

    override func setUpWithError() throws {
        lab = try Lab.shared()
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func makeKey(_ name: String, passphrase: String = "", type: [String] = ["-t", "ed25519"]) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        let result = try Command.run("/usr/bin/ssh-keygen", ["-q"] + type + ["-N", passphrase, "-C", name, "-f", path])
        guard result.status == 0 else { throw HarnessError("ssh-keygen: \(result.err)") }
        return path
    }

    /// Installs `publicLine` as the only authorized key of a test user on the upstreams.
    private func authorizeUpstream(_ user: String, _ publicLine: String) throws {
        let home = "/home/\(user)/.ssh"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try (publicLine + "\n").write(toFile: home + "/authorized_keys", atomically: true, encoding: .utf8)
        let chown = try Command.run("/bin/chown", ["-R", "\(user):\(user)", home])
        XCTAssertEqual(chown.status, 0, chown.err)
    }

    private func sshWithKey(_ login: String, key: String, command: String, options: [String] = []) throws -> CommandResult {
        try Command.run(Programs.ssh, options + [
            "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-p", String(lab.proxy.port), "\(login)@127.0.0.1", command,
        ], timeout: 30)
    }

    func testMappedKeyLogsInUpstreamForAListedClientKey() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-keyed", "127.0.0.1:\(lab.upstreamB.port)", "--upstream-user", TestUsers.deploy.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-keyed"]) }
        let publicLine = try lab.proxy.mustAdmin(["route", "keygen", "sbt-keyed"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(publicLine.hasPrefix("ssh-ed25519 "), publicLine)
        try authorizeUpstream(TestUsers.deploy.name, publicLine)
        defer { try? FileManager.default.removeItem(atPath: "/home/\(TestUsers.deploy.name)/.ssh/authorized_keys") }

        let clientKey = try makeKey("client")
        let added = try lab.proxy.mustAdmin(["key", "add", "sbt-keyed", clientKey + ".pub"])
        let fingerprint = try Command.run("/usr/bin/ssh-keygen", ["-l", "-f", clientKey + ".pub"]).out.split(separator: " ")[1]
        XCTAssertTrue(added.contains(fingerprint), added)
        XCTAssertTrue(try lab.proxy.mustAdmin(["key", "list", "sbt-keyed"]).contains(fingerprint))

        let login = try sshWithKey("sbt-keyed", key: clientKey, command: "whoami; echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(login.status, 0, login.err)
        XCTAssertEqual(login.out, "\(TestUsers.deploy.name)\nupstream-b\n")

        let stranger = try makeKey("stranger")
        let refused = try sshWithKey("sbt-keyed", key: stranger, command: "true")
        XCTAssertEqual(refused.status, 255)
        XCTAssertTrue(refused.err.contains("Permission denied"), refused.err)

        try lab.proxy.mustAdmin(["key", "remove", "sbt-keyed", String(fingerprint)])
        XCTAssertEqual(try sshWithKey("sbt-keyed", key: clientKey, command: "true").status, 255, "a removed key still logs in")
    }

    func testRSAKeysSignWithSHA2OnlyNeverSHA1() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-rsa", "127.0.0.1:\(lab.upstreamB.port)", "--upstream-user", TestUsers.deploy.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-rsa"]) }
        let publicLine = try lab.proxy.mustAdmin(["route", "keygen", "sbt-rsa"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try authorizeUpstream(TestUsers.deploy.name, publicLine)
        defer { try? FileManager.default.removeItem(atPath: "/home/\(TestUsers.deploy.name)/.ssh/authorized_keys") }
        let rsaKey = try makeKey("rsa-client", type: ["-t", "rsa", "-b", "3072"])
        try lab.proxy.mustAdmin(["key", "add", "sbt-rsa", rsaKey + ".pub"])

        let sha2 = try sshWithKey("sbt-rsa", key: rsaKey, command: "echo sha2")
        XCTAssertEqual(sha2.out, "sha2\n", sha2.err)
        let sha1 = try sshWithKey("sbt-rsa", key: rsaKey, command: "echo sha1", options: ["-o", "PubkeyAcceptedAlgorithms=ssh-rsa"])
        XCTAssertEqual(sha1.status, 255, "an ssh-rsa (SHA-1) signature was accepted")
        XCTAssertTrue(sha1.err.contains("Permission denied"), sha1.err)
    }

    func testAgentPassthroughLogsInWithTheUsersOwnKey() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-agent", "127.0.0.1:\(lab.upstreamB.port)", "--upstream-user", TestUsers.bob.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-agent"]) }
        let clientKey = try makeKey("agent-client")
        let publicLine = try String(contentsOfFile: clientKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // Only the user's own key is known upstream; the proxy holds no key for this route.
        try authorizeUpstream(TestUsers.bob.name, publicLine)
        defer { try? FileManager.default.removeItem(atPath: "/home/\(TestUsers.bob.name)/.ssh/authorized_keys") }
        try lab.proxy.mustAdmin(["key", "add", "sbt-agent", clientKey + ".pub"])

        let socket = scratch.appendingPathComponent("agent.sock").path
        let agent = try Command.start("/usr/bin/ssh-agent", ["-D", "-a", socket])
        defer { agent.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_AUTH_SOCK"] = socket
        XCTAssertEqual(try Command.run("/usr/bin/ssh-add", ["-q", clientKey], environment: environment).status, 0)
        let fingerprint = try Command.run("/usr/bin/ssh-keygen", ["-l", "-f", clientKey + ".pub"]).out.split(separator: " ")[1]

        let options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                       "-o", "LogLevel=ERROR", "-p", String(lab.proxy.port)]
        let withAgent = try Command.run(Programs.ssh, ["-A"] + options + ["sbt-agent@127.0.0.1", "whoami; ssh-add -l"],
                                        environment: environment, timeout: 30)
        XCTAssertEqual(withAgent.status, 0, withAgent.err)
        XCTAssertTrue(withAgent.out.hasPrefix("\(TestUsers.bob.name)\n"), withAgent.out)
        XCTAssertTrue(withAgent.out.contains(fingerprint), "the agent is not visible upstream: \(withAgent.out)")

        let withoutAgent = try Command.run(Programs.ssh, ["-a"] + options + ["sbt-agent@127.0.0.1", "whoami"],
                                           environment: environment, timeout: 30)
        XCTAssertNotEqual(withoutAgent.status, 0)
        XCTAssertTrue(withoutAgent.err.contains("ssh -A"), withoutAgent.err)

        // A route without remote forwarding uses the agent for the login but does not pass it on.
        try lab.proxy.mustAdmin(["route", "set", "sbt-agent", "--forwarding", "local"])
        let notPassedOn = try Command.run(Programs.ssh, ["-A"] + options + ["sbt-agent@127.0.0.1", "whoami; ssh-add -l"],
                                          environment: environment, timeout: 30)
        XCTAssertTrue(notPassedOn.out.hasPrefix("\(TestUsers.bob.name)\n"), notPassedOn.out + notPassedOn.err)
        XCTAssertFalse(notPassedOn.out.contains(fingerprint), "the agent reached the upstream against the route's policy")
        XCTAssertNotEqual(notPassedOn.status, 0, "ssh-add -l upstream must find no agent")
    }

    func testAListedKeyWithoutMappedKeyOrAgentIsToldWhatIsMissing() throws {
        let mark = lab.proxy.logMark()
        try lab.proxy.mustAdmin(["route", "add", "sbt-nocred", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", TestUsers.alice.name])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-nocred"]) }
        let clientKey = try makeKey("client")
        try lab.proxy.mustAdmin(["key", "add", "sbt-nocred", clientKey + ".pub"])
        let result = try sshWithKey("sbt-nocred", key: clientKey, command: "true")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("connect with agent forwarding (ssh -A)"), result.err)
        XCTAssertTrue(lab.proxy.log(since: mark).contains("reason=no-agent"))
    }

    func testKeyAndIdentityInputIsValidated() throws {
        try lab.proxy.mustAdmin(["route", "add", "sbt-keycli", "127.0.0.1:22"])
        defer { _ = try? lab.proxy.admin(["route", "remove", "sbt-keycli"]) }
        let good = try makeKey("good")
        let encrypted = try makeKey("encrypted", passphrase: "secret-passphrase")
        let open = try makeKey("open")
        chmod(open, 0o644)
        let garbage = scratch.appendingPathComponent("garbage.pub").path
        try "ssh-ed25519 not-base64!!\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let withOptions = scratch.appendingPathComponent("options.pub").path
        try ("from=\"10.0.0.1\" " + String(contentsOfFile: good + ".pub", encoding: .utf8)).write(toFile: withOptions, atomically: true, encoding: .utf8)

        let cases: [([String], String)] = [
            (["key", "add", "sbt-keycli", garbage], "invalid public key"),
            (["key", "add", "sbt-keycli", withOptions], "not supported"),
            (["key", "add", "nobody-here", good + ".pub"], "no route"),
            (["key", "remove", "sbt-keycli", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"], "no key"),
            (["route", "set", "sbt-keycli", "--identity-file", encrypted], "encrypted"),
            (["route", "set", "sbt-keycli", "--identity-file", open], "readable by group or others"),
            (["route", "set", "sbt-keycli", "--identity-file", scratch.appendingPathComponent("missing").path], "no such file"),
        ]
        for (arguments, expected) in cases {
            let result = try lab.proxy.admin(arguments)
            XCTAssertNotEqual(result.status, 0, "accepted: \(arguments)")
            XCTAssertTrue(result.err.contains(expected), "\(arguments): \(result.err)")
        }
        XCTAssertEqual(try lab.proxy.mustAdmin(["key", "list", "sbt-keycli"]), "")
        XCTAssertTrue(try lab.proxy.mustAdmin(["route", "show", "sbt-keycli"]).contains("identity file:   none"))

        try lab.proxy.mustAdmin(["key", "add", "sbt-keycli", good + ".pub"])
        let duplicate = try lab.proxy.admin(["key", "add", "sbt-keycli", good + ".pub"])
        XCTAssertNotEqual(duplicate.status, 0)
        XCTAssertTrue(duplicate.err.contains("already listed"), duplicate.err)
        try lab.proxy.mustAdmin(["route", "set", "sbt-keycli", "--identity-file", good])
        XCTAssertTrue(try lab.proxy.mustAdmin(["route", "show", "sbt-keycli"]).contains(good))
    }
}
