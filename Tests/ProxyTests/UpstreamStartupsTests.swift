import Foundation
import Logging
import RouteStore
import XCTest

@testable import Proxy

/// The bound on the proxy's upstream connections still logging in: per upstream, per source,
/// waiting for a place, and a login that holds one until it finishes.
final class UpstreamStartupsTests: XCTestCase {
    private let limits = UpstreamStartups.Limits(perUpstream: 3, perSource: 2)
    private var soon: Date { Date().addingTimeInterval(0.05) }

    func testOneSourceCannotTakeEveryPlaceOfAnUpstream() {
        let startups = UpstreamStartups()
        let first = startups.reserve(upstream: "u:22", source: "a", limits: limits, until: soon)
        let second = startups.reserve(upstream: "u:22", source: "a", limits: limits, until: soon)
        XCTAssertNotNil(first)
        XCTAssertNotNil(second)
        XCTAssertNil(startups.reserve(upstream: "u:22", source: "a", limits: limits, until: soon), "a source holds at most 2")
        let other = startups.reserve(upstream: "u:22", source: "b", limits: limits, until: soon)
        XCTAssertNotNil(other, "another source still gets in")
        XCTAssertNil(startups.reserve(upstream: "u:22", source: "c", limits: limits, until: soon), "the upstream holds at most 3")
        XCTAssertNotNil(startups.reserve(upstream: "v:22", source: "a", limits: limits, until: soon), "other upstreams are counted apart")
        XCTAssertEqual(startups.taken(upstream: "u:22"), 3)
        _ = (first, second, other)
    }

    func testAWaitingLoginGetsThePlaceGivenBack() {
        let startups = UpstreamStartups()
        let held = Held((0..<2).compactMap { _ in startups.reserve(upstream: "u:22", source: "a", limits: limits, until: soon) })
        XCTAssertEqual(held.places.count, 2)
        let releaser = Thread { Thread.sleep(forTimeInterval: 0.2); held.places.removeAll() }
        releaser.start()
        let started = Date()
        let place = startups.reserve(upstream: "u:22", source: "a", limits: limits, until: Date().addingTimeInterval(5))
        XCTAssertNotNil(place)
        XCTAssertLessThan(Date().timeIntervalSince(started), 4, "woken when a place came free, not at the deadline")
    }

    func testNoLimitsMeansNoWaiting() {
        let startups = UpstreamStartups()
        let places = (0..<50).compactMap { _ in startups.reserve(upstream: "u:22", source: "a", limits: .unlimited, until: Date()) }
        XCTAssertEqual(places.count, 50)
        XCTAssertEqual(startups.taken(upstream: "u:22"), 50)
    }

    func testALoginHoldsItsPlaceUntilItSucceedsAndBusyUpstreamsAreReported() {
        let routes = FakeRoutes([Route(login: "alice", upstreamHost: "10.0.0.5"), Route(login: "bob", upstreamHost: "10.0.0.5")])
        let startups = UpstreamStartups()
        let places = UpstreamStartupPlaces(startups: startups, source: "192.0.2.1", limits: .init(perUpstream: 1, perSource: 1), patience: 0.05)
        let failing = LoginAuthenticator(routes: routes, connector: FakeConnector(), startupPlaces: places, logger: .silent)
        let waiting = LoginAuthenticator(routes: routes, connector: FakeConnector(), startupPlaces: places, logger: .silent)

        guard case .rejected = failing.authenticate(login: "alice", password: "wrong") else { return XCTFail("denied upstream") }
        XCTAssertEqual(startups.taken(upstream: "10.0.0.5:22"), 1, "a failed attempt keeps its connection and its place")
        guard case .upstreamUnavailable(_, .busy) = waiting.authenticate(login: "bob", password: "right") else {
            return XCTFail("the only place is taken")
        }
        guard case .accepted = failing.authenticate(login: "alice", password: "right") else { return XCTFail("accepted upstream") }
        XCTAssertEqual(startups.taken(upstream: "10.0.0.5:22"), 0, "a finished login gives its place back")
        guard case .accepted = waiting.authenticate(login: "bob", password: "right") else { return XCTFail("the place is free again") }
    }
}

/// Places handed to another thread, which gives them back.
private final class Held: @unchecked Sendable {
    var places: [UpstreamStartup]
    init(_ places: [UpstreamStartup]) { self.places = places }
}
