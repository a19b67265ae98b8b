import Foundation
import RouteStore
import XCTest

@testable import Proxy

/// Each access rule's verdict at chosen moments, and the words a refused user reads.
final class AccessCheckTests: XCTestCase {
    private func date(_ text: String) throws -> Date { try XCTUnwrap(ISO8601DateFormatter().date(from: text)) }

    func testValidityAndScheduleVerdicts() throws {
        let policy = AccessPolicy(
            schedule: try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 Europe/Berlin"),
            validFrom: try date("2026-12-01T00:00:00Z"), validUntil: try date("2027-01-01T00:00:00Z"))
        let cases: [(String, AccessRule?)] = [
            ("2026-11-30T09:00:00Z", .notYetValid),   // a Monday inside the window, but before validity
            ("2026-12-01T09:00:00Z", nil),            // Tuesday 10:00 in Berlin
            ("2026-12-01T18:00:00Z", .schedule),      // Tuesday 19:00 in Berlin: the end is exclusive
            ("2026-12-05T09:00:00Z", .schedule),      // Saturday
            ("2027-01-01T00:00:00Z", .expired),       // valid until is exclusive
        ]
        for (moment, expected) in cases {
            XCTAssertEqual(AccessCheck.timeRefusal(policy, login: "alice", at: try date(moment))?.rule, expected, moment)
        }
        let refusal = try XCTUnwrap(AccessCheck.timeRefusal(policy, login: "alice", at: try date("2026-12-05T09:00:00Z")))
        XCTAssertEqual(refusal.message, "the login alice is allowed Mon-Fri 08:00-19:00 Europe/Berlin; next from 2026-12-07T07:00:00Z")
        XCTAssertEqual(AccessCheck.timeVerdicts(policy, login: "alice", at: try date("2026-12-01T09:00:00Z")).map(\.rule),
                       [.notYetValid, .expired, .schedule], "every rule that is on is listed, in the order logins apply them")
        XCTAssertNil(AccessCheck.timeRefusal(.open, login: "alice", at: .distantPast))
    }

    func testSourceAndSessionLimit() throws {
        let policy = AccessPolicy(allowFrom: try AccessPolicy.addressRanges(parsing: "203.0.113.0/24,2001:db8::/32"), maxSessions: 2)
        XCTAssertTrue(AccessCheck.allowsSource(policy, host: "203.0.113.9"))
        XCTAssertTrue(AccessCheck.allowsSource(policy, host: "::ffff:203.0.113.9"), "IPv4-mapped IPv6 is the IPv4 address")
        XCTAssertTrue(AccessCheck.allowsSource(policy, host: "2001:db8::7"))
        XCTAssertFalse(AccessCheck.allowsSource(policy, host: "198.51.100.1"))
        XCTAssertFalse(AccessCheck.allowsSource(policy, host: ""), "an unknown address is not in any range")
        XCTAssertTrue(AccessCheck.allowsSource(.open, host: ""))
        XCTAssertNil(AccessCheck.sessionLimitRefusal(policy, login: "alice", runningBefore: 1))
        XCTAssertEqual(AccessCheck.sessionLimitRefusal(policy, login: "alice", runningBefore: 2)?.message,
                       "the login alice may have at most 2 sessions at once")
    }
}
