import XCTest

@testable import Proxy

/// The node's live sessions as the admin API reads them: which it holds, each one's watch and
/// byte counts, until the session unregisters.
final class LiveSessionsTests: XCTestCase {
    func testARegisteredSessionIsFoundWithItsWatchAndBytesUntilItUnregisters() throws {
        let sessions = LiveSessions()
        let watch = SessionWatch()
        let traffic = LiveTraffic()
        sessions.register(auditID: 42, request: EndRequest(), watch: watch, traffic: traffic)
        sessions.register(auditID: 7, request: EndRequest(), watch: SessionWatch(), traffic: LiveTraffic())
        XCTAssertEqual(sessions.auditIDs, [7, 42])
        XCTAssertTrue(sessions.holds(auditID: 42))
        XCTAssertFalse(sessions.holds(auditID: 43))
        XCTAssertTrue(sessions.watch(auditID: 42) === watch)
        XCTAssertNil(sessions.watch(auditID: 43))

        XCTAssertEqual(sessions.liveBytes(auditID: 42).map { [$0.toUpstream, $0.toClient] }, [0, 0])
        traffic.publish(toUpstream: 120, toClient: 4096)
        XCTAssertEqual(sessions.liveBytes(auditID: 42).map { [$0.toUpstream, $0.toClient] }, [120, 4096])
        XCTAssertNil(sessions.liveBytes(auditID: 43))

        sessions.unregister(auditID: 42)
        XCTAssertEqual(sessions.auditIDs, [7])
        XCTAssertNil(sessions.watch(auditID: 42))
        XCTAssertNil(sessions.liveBytes(auditID: 42))
    }
}
