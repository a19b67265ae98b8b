import Foundation
import XCTest

/// Pattern routes with real clients: a regular expression serves a family of logins, its groups
/// fill the upstream user, exact routes win, patterns go in priority order, the catch-all comes
/// last; and `route explain` names the route a login gets.
final class PatternRouteTests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    private func servedBy(_ proxy: ProxyProcess, _ login: String) throws -> (route: String?, how: String?, user: String?) {
        let out = try proxy.mustAdmin(["route", "explain", login, "--json"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        return (json["route"] as? String, json["served_by"] as? String, json["upstream_user"] as? String)
    }

    func testPatternsServeLoginsInPriorityOrderAfterExactRoutesAndBeforeTheCatchAll() throws {
        let proxy = try ProxyProcess()
        let (alice, bob) = (TestUsers.alice, TestUsers.bob)
        // dev-NAME reaches upstream A as sbt-NAME; ops-NAME reaches upstream B the same way.
        try proxy.mustAdmin(["route", "add", "--match", "dev-([a-z]+)", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", "sbt-$1"])
        try proxy.mustAdmin(["route", "add", "--match", "(dev|ops)-([a-z]+)", "127.0.0.1:\(lab.upstreamB.port)", "--upstream-user", "sbt-$2"])
        let clients = Clients(port: proxy.port)
        let dev = try clients.ssh("dev-alice", alice.password, "whoami; echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(dev.out, "\(alice.name)\nupstream-a\n", dev.err)
        let ops = try clients.ssh("ops-bob", bob.password, "whoami; echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(ops.out, "\(bob.name)\nupstream-b\n", ops.err)
        XCTAssertEqual(try servedBy(proxy, "dev-alice").route, "~dev-([a-z]+)")
        XCTAssertEqual(try servedBy(proxy, "dev-alice").user, alice.name)

        // Priority: moving the second pattern first sends dev-* to upstream B.
        try proxy.mustAdmin(["route", "set", "~(dev|ops)-([a-z]+)", "--priority", "1"])
        let moved = try clients.ssh("dev-alice", alice.password, "echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(moved.out, "upstream-b\n", moved.err)
        let listing = try proxy.mustAdmin(["route", "list"])
        XCTAssertTrue(listing.contains("(pattern, priority 1)"), listing)

        // An exact route wins over every pattern; the catch-all serves what no pattern matches.
        try proxy.mustAdmin(["route", "add", "dev-alice", "127.0.0.1:\(lab.upstreamA.port)", "--upstream-user", alice.name])
        XCTAssertEqual(try clients.ssh("dev-alice", alice.password, "echo $SWITCHBOARD_UPSTREAM").out, "upstream-a\n")
        XCTAssertEqual(try servedBy(proxy, "dev-alice").how, "own")
        try proxy.mustAdmin(["route", "add", "*", "127.0.0.1:\(lab.upstreamA.port)"])
        XCTAssertEqual(try clients.ssh(bob.name, bob.password, "echo $SWITCHBOARD_UPSTREAM").out, "upstream-a\n")
        XCTAssertEqual(try servedBy(proxy, bob.name).how, "catch-all")
        XCTAssertEqual(try servedBy(proxy, "ops-bob").how, "pattern")

        // A disabled pattern refuses its logins instead of passing them to the catch-all.
        try proxy.mustAdmin(["route", "set", "~(dev|ops)-([a-z]+)", "--disable"])
        let disabled = try clients.ssh("ops-bob", bob.password, "true")
        XCTAssertNotEqual(disabled.status, 0)
        XCTAssertTrue(disabled.err.contains("Permission denied"), disabled.err)

        // Bad patterns are refused when written, with the reason.
        let nested = try proxy.admin(["route", "add", "--match", "(a+)+", "127.0.0.1:22"])
        XCTAssertNotEqual(nested.status, 0)
        XCTAssertTrue(nested.err.contains("exponential"), nested.err)
        let template = try proxy.admin(["route", "add", "--match", "x-([a-z]+)", "127.0.0.1:22", "--upstream-user", "$2"])
        XCTAssertTrue(template.err.contains("no group $2"), template.err)
    }
}
