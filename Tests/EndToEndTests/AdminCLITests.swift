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
}
