import XCTest

@testable import RouteStore

/// Pattern routes' regular expressions: a safe subset, matched whole, with templates; and the
/// store's rules for them.
final class RoutePatternTests: StoreTestCase {
    func testPatternsMatchWholeLoginsAndFillTemplates() throws {
        let pattern = try RoutePattern("dev-([a-z]+)(-[0-9]+)?")
        XCTAssertEqual(pattern.groupCount, 2)
        XCTAssertEqual(pattern.captures(of: "dev-alice")?[1], "alice")
        XCTAssertEqual(pattern.captures(of: "dev-alice-7")?[2], "-7")
        XCTAssertNil(pattern.captures(of: "xdev-alice"), "anchored at the start")
        XCTAssertNil(pattern.captures(of: "dev-alice!"), "anchored at the end")
        XCTAssertNil(try RoutePattern("a|b").captures(of: "ab"), "an alternation is matched whole too")
        XCTAssertEqual(RoutePattern.expand("sbt-$1$2", with: ["dev-bob-2", "bob", "-2"]), "sbt-bob-2")
        XCTAssertEqual(RoutePattern.expand("$1", with: ["x"]), "$1", "a missing group stays as written (and fails validation)")
        XCTAssertNoThrow(try pattern.validateTemplate("sbt-$1"))
        XCTAssertThrowsError(try pattern.validateTemplate("$3"))
        XCTAssertThrowsError(try pattern.validateTemplate("a b$1"))
    }

    func testPatternsThatCouldTakeLongOrAreNotRegularExpressionsAreRefused() {
        for bad in ["(a+)+", "(a|aa)*", "((ab)*)+", "(x+){2,}", "(a)\\1", "(?=a)a", "(?<n>a)", "[a-z", "(a", "a)", "", String(repeating: "a", count: 201), "a\\"] {
            XCTAssertThrowsError(try RoutePattern(bad), bad) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "invalid-policy", bad)
            }
        }
        for good in ["dev-([a-z]+)", "(dev|ops)-[a-z0-9]{1,20}", "(?:team-)?([a-z]+)", "(a|b)?c", "[(+)]+", "a{2,3}b*"] {
            XCTAssertNoThrow(try RoutePattern(good), good)
        }
    }

    func testTheStoreKeepsPatternRoutesInPriorityOrderAndRefusesWhatCannotWork() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let first = try store.add(Route(login: "~dev-([a-z]+)", upstreamHost: "10.0.0.5", upstreamUser: "u-$1"))
            XCTAssertEqual(first.matchPriority, 10, backend.name)
            _ = try store.add(Route(login: "~ops-.*", upstreamHost: "10.0.0.6"))
            _ = try store.add(Route(login: "~dev-alice", upstreamHost: "10.0.0.7", matchPriority: 5))
            XCTAssertEqual(try store.patternRoutes().map(\.login), ["~dev-alice", "~dev-([a-z]+)", "~ops-.*"], backend.name)
            XCTAssertEqual(try store.patternRoutes().map(\.matchPriority), [5, 10, 20], backend.name)
            _ = try store.update(login: "~ops-.*", with: RouteChanges(matchPriority: 1))
            XCTAssertEqual(try store.patternRoutes().first?.login, "~ops-.*", backend.name)

            let refusals: [(Route, String)] = [
                (Route(login: "~(a+)+", upstreamHost: "10.0.0.5"), "invalid-policy"),
                (Route(login: "~x-([a-z]+)", upstreamHost: "10.0.0.5", upstreamUser: "$2"), "invalid-upstream-user"),
                (Route(login: "~y-.*", upstreamHost: "10.0.0.5", identityFile: "/keys/k"), "invalid-identity-file"),
                (Route(login: "~z-.*", upstreamHost: "10.0.0.5", upstreamAuth: .certificate), "invalid-upstream-auth"),
                (Route(login: "alice", upstreamHost: "10.0.0.5", matchPriority: 3), "invalid-policy"),
            ]
            for (route, code) in refusals {
                XCTAssertThrowsError(try store.add(route), "\(route.login) (\(backend.name))") { error in
                    XCTAssertEqual((error as? RouteStoreError)?.code, code, route.login)
                }
            }
            XCTAssertEqual(try store.patternRoutes().count, 3, "refused routes wrote nothing (\(backend.name))")
        }
    }
}
