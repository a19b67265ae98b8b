import Foundation
import Logging
import RouteStore
import Synchronization
import XCTest

@testable import Proxy

/// What the proxy does while the database cannot be reached: logins use recent answers for a
/// bounded time, audit writes wait on disk in order and reach the database when it is back.
final class DatabaseOutageTests: XCTestCase {
    func testRecentAnswersStandInDuringAnOutageAndOnlyThoseAndOnlyForTheGrace() throws {
        let store = SwitchableStore()
        store.routes["alice"] = Route(login: "alice", upstreamHost: "10.0.0.5")
        let routes = OutageTolerantRoutes(store: store, graceSeconds: 300)
        XCTAssertEqual(try routes.route(for: "alice")?.upstreamHost, "10.0.0.5")
        XCTAssertFalse(try routes.isKeyListed("SHA256:x", for: "alice"))
        store.down.store(true, ordering: .relaxed)
        XCTAssertEqual(try routes.route(for: "alice")?.upstreamHost, "10.0.0.5", "a known route logs in during the outage")
        XCTAssertFalse(try routes.isKeyListed("SHA256:x", for: "alice"))
        XCTAssertThrowsError(try routes.route(for: "bob"), "a login never read is not guessed") { error in
            XCTAssertEqual((error as? RouteStoreError)?.code, "database-unavailable")
        }
        XCTAssertThrowsError(try routes.pinHostKeyIfUnpinned(login: "alice", fingerprint: "SHA256:y"), "pins need the database")
        routes.setGrace(seconds: 0)
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertThrowsError(try routes.route(for: "alice"), "past the grace the answer is too old")
        store.down.store(false, ordering: .relaxed)
        store.routes["alice"] = nil
        XCTAssertNil(try routes.route(for: "alice"), "once back, the database's answer counts")
    }

    func testAuditWritesWaitOnDiskInOrderAndReachTheDatabaseWhenItReturns() throws {
        let folder = try spoolFolder()
        let store = SwitchableStore()
        let logger = Logger(label: "test")
        let audit = SpoolingAudit(store: store, directory: folder, logger: logger)
        let before = try audit.recordStart(Self.record("alice"))
        XCTAssertGreaterThan(before, 0)

        store.down.store(true, ordering: .relaxed)
        try audit.recordEnd(id: before, Self.end("client-closed"))
        let during = try audit.recordStart(Self.record("bob"))
        XCTAssertLessThan(during, 0, "a session started during the outage has a provisional id")
        try audit.recordRecording(id: during, path: "/rec/x.cast")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(folder)/audit-spool.\(getpid()).jsonl"))
        audit.flush(logger: logger)
        XCTAssertEqual(store.log, ["start alice"], "nothing reached the database while it was down")

        store.down.store(false, ordering: .relaxed)
        audit.flush(logger: logger)
        XCTAssertEqual(store.log, ["start alice", "end 1 client-closed", "start bob", "recording 2 /rec/x.cast"], "in order")
        try audit.recordEnd(id: during, Self.end("killed"))
        XCTAssertEqual(store.log.last, "end 2 killed", "the provisional id maps to the id the start got")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [], "an empty spool leaves no file")
    }

    func testASpoolLeftByAProcessThatDiedIsWrittenByTheNextOne() throws {
        let folder = try spoolFolder()
        let store = SwitchableStore()
        let logger = Logger(label: "test")
        store.down.store(true, ordering: .relaxed)
        // A process id no process has: the spool of a node that crashed during the outage.
        let crashed = SpoolingAudit(store: store, directory: folder, processID: Int32.max - 7, logger: logger)
        let id = try crashed.recordStart(Self.record("carol"))
        try crashed.recordEnd(id: id, Self.end("client-closed"))
        store.down.store(false, ordering: .relaxed)

        let running = SpoolingAudit(store: store, directory: folder, processID: Int32.max - 8, logger: logger)
        XCTAssertEqual(store.log, [])
        running.flush(logger: logger)
        XCTAssertEqual(store.log, ["start carol", "end 1 client-closed"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
        let living = SpoolingAudit(store: store, directory: folder, processID: getpid(), logger: logger)
        _ = living
        XCTAssertEqual(store.log.count, 2, "a running process's spool is not taken over")
    }

    /// An empty data directory for spools, removed after the test.
    private func spoolFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "switchboard-spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        return folder
    }

    private static func record(_ login: String) -> SessionRecord {
        SessionRecord(login: login, clientAddress: "192.0.2.1", clientPort: 1, upstreamHost: "h", upstreamPort: 22,
                      upstreamUser: login, authMethod: "password")
    }

    private static func end(_ reason: String) -> SessionEnd {
        SessionEnd(bytesToUpstream: 0, bytesToClient: 0, exitStatus: nil, reason: reason)
    }
}

/// A store that answers from memory, or fails as an unreachable database does.
private final class SwitchableStore: RouteLookup, CertificateLookup, SessionAudit, @unchecked Sendable {
    // Tests use it from one thread.
    let down = Atomic<Bool>(false)
    var routes: [String: Route] = [:]
    var log: [String] = []
    private var nextID: Int64 = 1

    private func check() throws(RouteStoreError) {
        if down.load(ordering: .relaxed) { throw .unavailable("test outage") }
    }

    func route(for login: String) throws(RouteStoreError) -> Route? {
        try check()
        return routes[login]
    }

    func isKeyListed(_ fingerprint: String, for login: String) throws(RouteStoreError) -> Bool {
        try check()
        return false
    }

    func hasRoute(differingOnlyInCaseFrom login: String) throws(RouteStoreError) -> Bool {
        try check()
        return false
    }

    func pinHostKeyIfUnpinned(login: String, fingerprint: String) throws(RouteStoreError) -> Bool {
        try check()
        return true
    }

    func patternRoutes() throws(RouteStoreError) -> [Route] {
        try check()
        return []
    }

    func signingAuthority() throws(RouteStoreError) -> SigningAuthority? {
        try check()
        return nil
    }

    func trustedClientAuthority(fingerprint: String) throws(RouteStoreError) -> TrustedClientAuthority? {
        try check()
        return nil
    }

    func isCertificateRevoked(authority: String, serial: UInt64, keyID: String) throws(RouteStoreError) -> Bool {
        try check()
        return false
    }

    func recordStart(_ session: SessionRecord) throws(RouteStoreError) -> Int64 {
        try check()
        log.append("start \(session.login)")
        defer { nextID += 1 }
        return nextID
    }

    func recordRecording(id: Int64, path: String) throws(RouteStoreError) {
        try check()
        log.append("recording \(id) \(path)")
    }

    func recordEnd(id: Int64, _ end: SessionEnd) throws(RouteStoreError) {
        try check()
        log.append("end \(id) \(end.reason)")
    }

    func sessions(matching filter: SessionFilter) throws(RouteStoreError) -> [SessionRecord] { [] }
}
