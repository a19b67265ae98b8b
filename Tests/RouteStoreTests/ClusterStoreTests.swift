import Foundation
import XCTest

@testable import RouteStore

/// What the nodes of a cluster share through the store, on both backends; and that both
/// dialects' migrations end at the same schema.
final class ClusterStoreTests: StoreTestCase {
    private func startSession(_ store: SQLRouteStore, node: String) throws -> Int64 {
        try store.recordStart(SessionRecord(
            login: "alice", clientAddress: "192.0.2.1", clientPort: 40000, upstreamHost: "10.0.0.5", upstreamPort: 22,
            upstreamUser: "alice", authMethod: "password", nodeID: node))
    }

    func testNodesHeartbeatAndTheirSessionsAreListedWithTheNode() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            try store.registerNode(id: "n1", name: "gw-1", address: "10.0.0.1:2222", version: "t")
            try store.registerNode(id: "n3", name: "gw-3", address: "10.0.0.3:2222", version: "t")
            let id = try startSession(store, node: "n3")
            let nodes = try store.nodes()
            XCTAssertEqual(nodes.map(\.name), ["gw-1", "gw-3"], backend.name)
            XCTAssertEqual(nodes.map(\.activeSessions), [0, 1], backend.name)
            XCTAssertLessThan(nodes[0].heartbeatAge, 5, backend.name)
            let active = try store.sessions(matching: SessionFilter(activeOnly: true))
            XCTAssertEqual(active.map(\.id), [id], backend.name)
            XCTAssertEqual(active.first?.nodeName, "gw-3", backend.name)
            try store.heartbeat(nodeID: "n1", state: .draining)
            XCTAssertEqual(try store.nodes().first?.state, .draining, backend.name)
        }
    }

    func testALostNodesSessionsAreClosedOnceAndOthersStay() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            try store.registerNode(id: "alive", name: "gw-1", address: "a", version: "t")
            try store.registerNode(id: "gone", name: "gw-2", address: "b", version: "t")
            let kept = try startSession(store, node: "alive")
            let lost = try startSession(store, node: "gone")
            XCTAssertEqual(try store.markLostNodes(silentFor: 60).sessions, 0, "\(backend.name): nobody is silent yet")
            Thread.sleep(forTimeInterval: 1.2)
            try store.heartbeat(nodeID: "alive", state: .running)
            let (nodes, closed) = try store.markLostNodes(silentFor: 1)
            XCTAssertEqual(nodes, ["gw-2"], backend.name)
            XCTAssertEqual(closed, 1, backend.name)
            XCTAssertEqual(try store.sessions(matching: SessionFilter(id: lost)).first?.endReason, "node-lost", backend.name)
            XCTAssertNil(try store.sessions(matching: SessionFilter(id: kept)).first?.endedAt, backend.name)
            XCTAssertEqual(try store.markLostNodes(silentFor: 1).nodes, [], "\(backend.name): marked only once")
            XCTAssertEqual(try store.nodes().first { $0.id == "gone" }?.state, .lost, backend.name)
        }
    }

    func testAKillRequestReachesTheOwningNodeOnly() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            try store.registerNode(id: "n1", name: "gw-1", address: "a", version: "t")
            try store.registerNode(id: "n3", name: "gw-3", address: "c", version: "t")
            let id = try startSession(store, node: "n3")
            let request = try store.requestKill(sessionID: id)
            XCTAssertEqual(request.nodeName, "gw-3", backend.name)
            XCTAssertEqual(try store.killRequests(for: "n3"), [id], backend.name)
            XCTAssertEqual(try store.killRequests(for: "n1"), [], backend.name)
            try store.recordEnd(id: id, SessionEnd(bytesToUpstream: 1, bytesToClient: 2, exitStatus: nil, reason: "killed"))
            XCTAssertEqual(try store.killRequests(for: "n3"), [], "\(backend.name): an ended session is not asked again")
            XCTAssertThrowsError(try store.requestKill(sessionID: id), backend.name) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "session-not-running")
            }
            XCTAssertThrowsError(try store.requestKill(sessionID: 999_999), backend.name)
        }
    }

    func testAKillRequestWakesAListeningNodeAtOnce() throws {
        guard let url = try databases.postgreSQLURL() else { throw XCTSkip("needs PostgreSQL (NOTIFY)") }
        let store = try SQLRouteStore(location: .postgresql(url))
        let listener = try SQLRouteStore(location: .postgresql(url))
        try store.registerNode(id: "n1", name: "gw-1", address: "a", version: "t")
        let id = try startSession(store, node: "n1")
        XCTAssertFalse(listener.waitForKillRequest(timeout: 0.2), "the first wait subscribes; nothing was sent")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { _ = try? store.requestKill(sessionID: id) }
        let started = Date()
        XCTAssertTrue(listener.waitForKillRequest(timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "the notification, not the timeout, ended the wait")
    }

    func testBansAreSharedWithTheDatabasesClock() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            try store.recordBan(source: "192.0.2.7", seconds: 30, nodeID: "n1")
            try store.recordBan(source: "2001:db8:0:1::/64", seconds: 0.001, nodeID: "n2")
            Thread.sleep(forTimeInterval: 0.05)
            let bans = try store.activeBans()
            XCTAssertEqual(bans.map(\.source), ["192.0.2.7"], backend.name)
            XCTAssertEqual(bans.first?.remainingSeconds ?? 0, 30, accuracy: 2, backend.name)
            try store.recordBan(source: "192.0.2.7", seconds: 60, nodeID: "n2")
            XCTAssertEqual(try store.activeBans().first?.remainingSeconds ?? 0, 60, accuracy: 2, "\(backend.name): renewed")
        }
    }

    func testTheFirstNodesHostKeysAreTheClustersAndOthersAreCompared() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let first = ["ssh-ed25519": "SHA256:" + String(repeating: "a", count: 43)]
            XCTAssertEqual(try store.registerHostKeys(first), first, backend.name)
            let other = ["ssh-ed25519": "SHA256:" + String(repeating: "b", count: 43)]
            XCTAssertEqual(try store.registerHostKeys(other), first, "\(backend.name): the registered key stays")
        }
    }

    func testRouteKeysKeptInTheDatabaseSurviveAndGoWithTheirRoute() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            let updated = try store.update(login: "alice", with: RouteChanges(identityKey: .some("ENCRYPTED KEY TEXT")))
            XCTAssertEqual(updated.identityKey, "ENCRYPTED KEY TEXT", backend.name)
            XCTAssertEqual(try backend.openStore().route(for: "alice")?.identityKey, "ENCRYPTED KEY TEXT", backend.name)
        }
    }

    func testMigratingConcurrentlyAppliesEachMigrationOnce() throws {
        guard let url = try databases.postgreSQLURL() else { throw XCTSkip("needs PostgreSQL") }
        let errors = LockedList()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do {
                _ = try SQLRouteStore(location: .postgresql(url))
            } catch {
                errors.append("\(error)")
            }
        }
        XCTAssertEqual(errors.items, [], "nodes starting together raced on the migrations")
        XCTAssertEqual(try SQLRouteStore(location: .postgresql(url)).appliedMigrationVersions(), Migration.embedded(for: .postgresql).map(\.version))
    }

    /// Both dialects end at the same tables, columns, types (INTEGER ~ BIGINT), nullability
    /// and primary keys.
    func testBothDialectsEndAtTheSameLogicalSchema() throws {
        guard let url = try databases.postgreSQLURL() else { throw XCTSkip("needs PostgreSQL") }
        let sqlite = try SQLiteDatabase(path: try DataDirectory(explicit: directory).createdDatabasePath())
        try MigrationRunner.migrate(sqlite)
        let postgres = try PostgreSQLDatabase(url: url)
        try MigrationRunner.migrate(postgres)
        var sqliteColumns: [String] = []
        var tables: [String] = []
        try sqlite.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") { row in
            tables.append(row.text(0) ?? "")
        }
        for table in tables {
            try sqlite.query("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", [.text(table)]) { row in
                let type = (row.text(1) ?? "").uppercased() == "TEXT" ? "text" : "integer"
                sqliteColumns.append("\(table).\(row.text(0) ?? "") \(type) \(row.integer(2) != 0 || row.integer(3) != 0 ? "not null" : "null")\(row.integer(3) != 0 ? " key" : "")")
            }
        }
        var postgresColumns: [String] = []
        try postgres.query(
            """
            SELECT c.table_name, c.column_name, c.data_type, c.is_nullable,
                   EXISTS (SELECT 1 FROM information_schema.key_column_usage k
                           JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name
                                AND t.table_schema = k.table_schema
                           WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema
                                 AND k.table_name = c.table_name AND k.column_name = c.column_name)
            FROM information_schema.columns c
            WHERE c.table_schema = current_schema()
            """
        ) { row in
            let type = row.text(2) == "text" ? "text" : "integer"
            let key = row.text(4) == "t"
            postgresColumns.append("\(row.text(0) ?? "").\(row.text(1) ?? "") \(type) \(row.text(3) == "NO" ? "not null" : "null")\(key ? " key" : "")")
        }
        XCTAssertFalse(sqliteColumns.isEmpty)
        XCTAssertEqual(sqliteColumns.sorted(), postgresColumns.sorted())
    }
}

private final class LockedList: @unchecked Sendable {
    // Guarded by `lock`.
    private var list: [String] = []
    private let lock = NSLock()
    func append(_ item: String) { lock.withLock { list.append(item) } }
    var items: [String] { lock.withLock { list } }
}

extension DataDirectory {
    fileprivate func createdDatabasePath() throws -> String {
        try create()
        return databasePath
    }
}
