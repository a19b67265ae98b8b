import Synchronization
import XCTest

@testable import Proxy

final class SourcePenaltiesTests: XCTestCase {
    private let start = ContinuousClock.now

    private func penalties(limit: Int = 3) -> SourcePenalties {
        SourcePenalties(settings: .init(limit: limit, window: .seconds(60), banDuration: .seconds(300)))
    }

    func testBansAfterTheLimitWithinTheWindowAndLiftsTheBan() {
        let table = penalties()
        XCTAssertFalse(table.recordFailure(from: "192.0.2.1", now: start))
        XCTAssertFalse(table.recordFailure(from: "192.0.2.1", now: start + .seconds(1)))
        XCTAssertFalse(table.isBanned("192.0.2.1", now: start + .seconds(2)))
        XCTAssertTrue(table.recordFailure(from: "192.0.2.1", now: start + .seconds(2)))
        XCTAssertTrue(table.isBanned("192.0.2.1", now: start + .seconds(3)))
        XCTAssertFalse(table.isBanned("192.0.2.2", now: start + .seconds(3)), "another address pays for this one")
        XCTAssertTrue(table.isBanned("192.0.2.1", now: start + .seconds(301)))
        XCTAssertFalse(table.isBanned("192.0.2.1", now: start + .seconds(303)))
    }

    func testFailuresOutsideTheWindowDoNotAddUp() {
        let table = penalties()
        table.recordFailure(from: "192.0.2.1", now: start)
        table.recordFailure(from: "192.0.2.1", now: start + .seconds(30))
        XCTAssertFalse(table.recordFailure(from: "192.0.2.1", now: start + .seconds(70)))
        XCTAssertFalse(table.isBanned("192.0.2.1", now: start + .seconds(71)))
    }

    func testLimitZeroNeverBans() {
        let table = penalties(limit: 0)
        for second in 0..<20 { table.recordFailure(from: "192.0.2.1", now: start + .seconds(second)) }
        XCTAssertFalse(table.isBanned("192.0.2.1", now: start + .seconds(21)))
    }
}

/// A source is an IPv4 address or an IPv6 /64.
final class PenaltySourceTests: XCTestCase {
    func testAnIPv6BanCoversItsWhole64() {
        let table = SourcePenalties(settings: .init(limit: 2, window: .seconds(60), banDuration: .seconds(300)))
        let start = ContinuousClock.now
        table.recordFailure(from: "2001:db8:1:2::1", now: start)
        XCTAssertTrue(table.recordFailure(from: "2001:db8:1:2:ffff::9", now: start + .seconds(1)))
        XCTAssertTrue(table.isBanned("2001:db8:1:2:abcd::42", now: start + .seconds(2)))
        XCTAssertFalse(table.isBanned("2001:db8:1:3::1", now: start + .seconds(2)), "the next /64 is someone else")
    }

    func testIPv4AndMappedIPv4AreOneSource() {
        XCTAssertEqual(SourcePenalties.source(of: "192.0.2.7"), "192.0.2.7")
        XCTAssertEqual(SourcePenalties.source(of: "::ffff:192.0.2.7"), "192.0.2.7")
        XCTAssertEqual(SourcePenalties.source(of: "2001:db8::5"), "2001:db8:0:0::/64")
    }
}

/// The door's counts: checked and taken in one step, given back by the ticket.
final class AdmissionTests: XCTestCase {
    private func settings(_ flags: [String]) throws -> ProxySettings {
        try ProxySettings.resolve([try SettingsLayer(arguments: flags)])
    }

    func testPreLoginPlacesArePerSourceAndFreedByTheLogin() throws {
        let settings = try settings(["--max-unauthenticated-per-source", "2", "--max-unauthenticated", "3"])
        let admission = Admission(settings: settings, descriptorLimit: 4096)
        var first = try? admission.admit("192.0.2.1", settings: settings).get()
        let second = try? admission.admit("192.0.2.1", settings: settings).get()
        XCTAssertNotNil(first)
        XCTAssertNotNil(second)
        guard case .failure(.maxUnauthenticatedPerSource) = admission.admit("192.0.2.1", settings: settings) else {
            return XCTFail("a third login-in-progress from one source must be refused")
        }
        let other = try? admission.admit("2001:db8::1", settings: settings).get()
        XCTAssertNotNil(other, "another source still gets in")
        guard case .failure(.maxUnauthenticated) = admission.admit("198.51.100.9", settings: settings) else {
            return XCTFail("the overall pre-login limit applies")
        }
        second?.loggedIn()
        XCTAssertNotNil(try? admission.admit("192.0.2.1", settings: settings).get(), "a logged-in client frees its place")
        first = nil
        XCTAssertNotNil(try? admission.admit("192.0.2.1", settings: settings).get(), "a closed connection frees its place")
    }

    func testPerAddressConnectionsCountLoggedInOnesToo() throws {
        let settings = try settings(["--max-connections-per-source", "1"])
        let admission = Admission(settings: settings, descriptorLimit: 4096)
        let ticket = try XCTUnwrap(try? admission.admit("192.0.2.1", settings: settings).get())
        ticket.loggedIn()
        guard case .failure(.maxConnectionsPerSource) = admission.admit("192.0.2.1", settings: settings) else {
            return XCTFail()
        }
    }
}

/// Bans shared between the nodes of a cluster.
final class SharedBanTests: XCTestCase {
    func testABanThisNodeStartsIsReportedAndOthersBansAreTakenIn() {
        let table = SourcePenalties(settings: .init(limit: 2, window: .seconds(60), banDuration: .seconds(300)))
        let reported = Mutex<[String]>([])
        table.onBan { source, seconds in reported.withLock { $0.append("\(source) \(Int(seconds))") } }
        table.recordFailure(from: "192.0.2.1")
        table.recordFailure(from: "192.0.2.1")
        XCTAssertEqual(reported.withLock { $0 }, ["192.0.2.1 300"])
        XCTAssertFalse(table.isBanned("2001:db8:1:2::9"))
        table.takeShared([(source: "2001:db8:1:2::/64", seconds: 30)])
        XCTAssertTrue(table.isBanned("2001:db8:1:2::9"), "a ban another node decided holds here, for the whole /64")
        XCTAssertFalse(table.isBanned("2001:db8:1:2::9", now: .now + .seconds(31)))
        XCTAssertEqual(reported.withLock { $0 }.count, 1, "taking in a ban does not report it back")
    }
}
