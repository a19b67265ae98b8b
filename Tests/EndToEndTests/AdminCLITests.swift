import Foundation
import XCTest

/// The admin CLI as an operator uses it: clear output, clear errors, nothing written on bad input.
final class AdminCLITests: XCTestCase {
    private var dataDirectory: String!

    override func setUpWithError() throws {
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-cli-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    private func cli(_ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
        try Command.run(Programs.switchboard, arguments + (environment == nil ? ["--data-dir", dataDirectory] : []),
                        environment: environment, timeout: 30)
    }

    private func routesJSON() throws -> [[String: Any]] {
        let result = try cli(["route", "list", "--json"])
        XCTAssertEqual(result.status, 0, result.err)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
    }

    func testAddListShowSetRemove() throws {
        XCTAssertEqual(try cli(["route", "add", "alice", "10.0.0.5:22"]).status, 0)
        XCTAssertEqual(try cli(["route", "add", "dave", "10.0.0.6", "--upstream-user", "deploy"]).status, 0)
        XCTAssertEqual(try cli(["route", "add", "v6", "[::1]:2222"]).status, 0)

        let table = try cli(["route", "list"]).out
        XCTAssertTrue(table.contains("alice"))
        XCTAssertTrue(table.contains("10.0.0.5:22"))
        XCTAssertTrue(table.contains("[::1]:2222"))

        let routes = try routesJSON()
        XCTAssertEqual(routes.map { $0["login"] as? String }, ["alice", "dave", "v6"])
        XCTAssertEqual(routes[1]["upstream_user"] as? String, "deploy")
        XCTAssertEqual(routes[1]["upstream_port"] as? Int, 22)
        XCTAssertEqual(routes[2]["upstream_host"] as? String, "::1")

        let show = try cli(["route", "show", "dave", "--json"])
        let dave = try XCTUnwrap(JSONSerialization.jsonObject(with: show.stdout) as? [String: Any])
        XCTAssertEqual(dave["effective_upstream_user"] as? String, "deploy")
        XCTAssertEqual(dave["enabled"] as? Bool, true)

        XCTAssertEqual(try cli(["route", "set", "alice", "--host", "db.internal", "--port", "2200", "--disable"]).status, 0)
        let alice = try cli(["route", "show", "alice"]).out
        XCTAssertTrue(alice.contains("db.internal:2200"), alice)
        XCTAssertTrue(alice.contains("enabled:         no"), alice)
        XCTAssertEqual(try cli(["route", "set", "alice", "--enable"]).status, 0)
        XCTAssertTrue(try cli(["route", "show", "alice"]).out.contains("enabled:         yes"))

        XCTAssertEqual(try cli(["route", "remove", "dave"]).status, 0)
        XCTAssertEqual(try routesJSON().count, 2)
    }

    func testBadInputIsRefusedAndWritesNothing() throws {
        XCTAssertEqual(try cli(["route", "add", "alice", "10.0.0.5:22"]).status, 0)
        let before = try cli(["route", "list", "--json"]).out

        let cases: [([String], String)] = [
            (["route", "add", "bob", "10.0.0.7:0"], "port"),
            (["route", "add", "bob", "10.0.0.7:65536"], "port"),
            (["route", "add", "bob", "10.0.0.7:http"], "port"),
            (["route", "add", "bob", ""], "host"),
            (["route", "add", "bob", "bad host"], "host"),
            (["route", "add", "bob", "::1"], "brackets"),
            (["route", "add", "bo;b", "10.0.0.7"], "login"),
            (["route", "add", "bo b", "10.0.0.7"], "login"),
            (["route", "add", "bob", "10.0.0.7", "--upstream-user", "x'y"], "upstream user"),
            (["route", "add", "alice", "10.0.0.8"], "already exists"),
            (["route", "remove", "nobody"], "no route"),
            (["route", "set", "nobody", "--port", "22"], "no route"),
            (["route", "set", "alice", "--port", "99999"], "port"),
            (["route", "set", "alice", "--host", "a b"], "host"),
            (["route", "set", "alice", "--upstream-user", "a\"b"], "upstream user"),
            (["route", "set", "alice"], "nothing to change"),
            (["route", "show", "nobody"], "no route"),
        ]
        for (arguments, expected) in cases {
            let result = try cli(arguments)
            XCTAssertNotEqual(result.status, 0, "accepted: \(arguments)")
            XCTAssertTrue(result.err.localizedCaseInsensitiveContains(expected), "\(arguments): \(result.err)")
        }
        XCTAssertEqual(try cli(["route", "list", "--json"]).out, before)
    }

    func testDataDirectoryFromEnvironment() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["SWITCHBOARD_DATA_DIR"] = dataDirectory
        XCTAssertEqual(try cli(["route", "add", "erin", "10.0.0.9"], environment: environment).status, 0)
        XCTAssertTrue(try cli(["route", "list"]).out.contains("erin"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dataDirectory + "/switchboard.db"))
    }

    func testWorksFromAnyDirectory() throws {
        let elsewhere = try Command.run("/bin/sh", ["-c", "cd / && '\(Programs.switchboard)' route list --data-dir '\(dataDirectory!)'"])
        XCTAssertEqual(elsewhere.status, 0, elsewhere.err)
    }
    func testCACommandsRefuseBadInputAndWriteNothing() throws {
        let keys = dataDirectory + "-keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: keys) }
        func refused(_ arguments: [String], saying text: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let result = try cli(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments) succeeded", file: file, line: line)
            XCTAssertTrue(result.err.contains(text), "\(arguments): \(result.err)", file: file, line: line)
        }
        try refused(["ca", "show"], saying: "run `switchboard ca init`")
        try refused(["ca", "rotate"], saying: "no signing CA yet")
        let leftOver = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/ca")) ?? []
        XCTAssertEqual(leftOver, [], "a refused rotate leaves no key file")
        try refused(["ca", "retire"], saying: "no signing CA")
        let created = try cli(["ca", "init"])
        XCTAssertEqual(created.status, 0, created.err)
        XCTAssertTrue(created.out.hasPrefix("ssh-ed25519 "), created.out)
        try refused(["ca", "init"], saying: "already has a signing CA")
        try refused(["ca", "retire"], saying: "no rotation is under way")
        let files = try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/ca").filter { !$0.hasSuffix(".pub") }
        XCTAssertEqual(files.count, 1, "one CA key file: \(files)")
        var mode = stat()
        XCTAssertEqual(stat(dataDirectory + "/ca/" + files[0], &mode), 0)
        XCTAssertEqual(mode.st_mode & 0o777, 0o600)

        // Client CAs: only one plain public key line is a CA.
        _ = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keys + "/corp"])
        _ = try Command.run("/usr/bin/ssh-keygen", ["-q", "-s", keys + "/corp", "-I", "x", "-n", "x", keys + "/corp.pub"])
        try "\(try String(contentsOfFile: keys + "/corp.pub", encoding: .utf8))\(try String(contentsOfFile: keys + "/corp.pub", encoding: .utf8))"
            .write(toFile: keys + "/two.pub", atomically: true, encoding: .utf8)
        try refused(["ca", "trust-client", keys + "/missing.pub"], saying: "cannot be read")
        try refused(["ca", "trust-client", keys + "/corp"], saying: "corp")
        try refused(["ca", "trust-client", keys + "/corp-cert.pub"], saying: "certificates are not supported")
        try refused(["ca", "trust-client", keys + "/two.pub"], saying: "expected one public key line, found 2")
        try refused(["ca", "trust-client", keys + "/corp.pub", "--name", "bad name"], saying: "invalid CA name")
        XCTAssertEqual(try cli(["ca", "trust-client", keys + "/corp.pub"]).status, 0)
        try refused(["ca", "trust-client", keys + "/corp.pub", "--name", "again"], saying: "already trusted as client CA \"corp\"")
        try refused(["ca", "revoke", "--serial", "1", "--key-id", "x"], saying: "exactly one of --serial and --key-id")
        try refused(["ca", "revoke", "--serial", "-1"], saying: "serial")
        try refused(["ca", "revoke", "--serial", "1", "--ca", "nobody"], saying: "no client CA named \"nobody\"")
        try refused(["ca", "untrust-client", "nobody"], saying: "no client CA named")
        let listed = try cli(["ca", "list", "--json"])
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: listed.stdout) as? [String: Any])
        XCTAssertEqual((record["trusted_clients"] as? [[String: Any]])?.map { $0["name"] as? String }, ["corp"])
        XCTAssertEqual((record["revocations"] as? [Any])?.count, 0, "refused revocations wrote nothing")
        XCTAssertEqual((record["signing"] as? [Any])?.count, 1)

        // Routes: certificate settings are validated like every other field.
        XCTAssertEqual(try cli(["route", "add", "alice", "10.0.0.5"]).status, 0)
        try refused(["route", "set", "alice", "--upstream-auth", "key"], saying: "route keygen alice")
        try refused(["route", "set", "alice", "--cert-ttl", "5"], saying: "a certificate lifetime is from 30 seconds")
        try refused(["route", "set", "alice", "--principal", "two words"], saying: "invalid certificate principal")
        try refused(["route", "set", "alice", "--upstream-auth", "sometimes"], saying: "sometimes")
        XCTAssertEqual(try cli(["route", "add", "*", "10.0.0.9"]).status, 0)
        try refused(["route", "set", "*", "--upstream-auth", "certificate"], saying: "cannot log in with certificates: every login name they serve")
        XCTAssertEqual(try routesJSON().first { $0["login"] as? String == "alice" }?["upstream_auth"] as? String, nil)
        XCTAssertEqual(try cli(["route", "set", "alice", "--upstream-auth", "certificate", "--principal", "ops@corp"]).status, 0)
        let alice = try XCTUnwrap(try routesJSON().first { $0["login"] as? String == "alice" })
        XCTAssertEqual(alice["upstream_auth"] as? String, "certificate")
        XCTAssertEqual(alice["certificate_principal"] as? String, "ops@corp")
        XCTAssertEqual(alice["certificate_lifetime"] as? Int, 300)
        XCTAssertEqual(try cli(["route", "set", "alice", "--upstream-auth", "automatic"]).status, 0)
        XCTAssertNil(try routesJSON().first { $0["login"] as? String == "alice" }?["upstream_auth"] as? String)
    }
}
