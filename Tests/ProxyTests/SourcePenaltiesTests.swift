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
