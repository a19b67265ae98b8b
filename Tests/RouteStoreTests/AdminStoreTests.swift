import Foundation
import XCTest

@testable import RouteStore

/// The admin API's tokens and its record of changes on both backends: tokens are found by hash
/// only while not revoked, names are unique among live tokens, and a change and its record
/// commit or roll back together.
final class AdminStoreTests: StoreTestCase {
    private static let hashes = (1...4).map { String(repeating: Character(String($0)), count: 64) }

    func testTokensAreFoundByHashUntilRevokedAndNamesStayUnique() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let ops = try store.addAdminToken(name: "ops", tokenHash: Self.hashes[0], readOnly: false)
            _ = try store.addAdminToken(name: "viewer", tokenHash: Self.hashes[1], readOnly: true)
            XCTAssertEqual(try store.activeAdminToken(tokenHash: Self.hashes[0])?.name, "ops", backend.name)
            XCTAssertEqual(try store.activeAdminToken(tokenHash: Self.hashes[1])?.readOnly, true, backend.name)
            XCTAssertNotNil(try store.activeAdminToken(tokenHash: Self.hashes[0])?.lastUsedAt, "a use is noted (\(backend.name))")
            XCTAssertNil(try store.activeAdminToken(tokenHash: Self.hashes[2]), backend.name)
            XCTAssertThrowsError(try store.addAdminToken(name: "ops", tokenHash: Self.hashes[2], readOnly: false)) {
                XCTAssertEqual(($0 as? RouteStoreError)?.code, "token-exists", backend.name)
            }
            for bad in ["", "has space", String(repeating: "a", count: 65), "tab\there", "ünï"] {
                XCTAssertThrowsError(try store.addAdminToken(name: bad, tokenHash: Self.hashes[3], readOnly: false)) {
                    XCTAssertEqual(($0 as? RouteStoreError)?.code, "invalid-token-name", "\(bad) (\(backend.name))")
                }
            }

            let revoked = try store.revokeAdminToken(name: "ops")
            XCTAssertEqual(revoked.id, ops.id, backend.name)
            XCTAssertNil(try store.activeAdminToken(tokenHash: Self.hashes[0]), "a revoked token is refused (\(backend.name))")
            XCTAssertThrowsError(try store.revokeAdminToken(name: "ops")) {
                XCTAssertEqual(($0 as? RouteStoreError)?.code, "token-not-found", backend.name)
            }
            _ = try store.addAdminToken(name: "ops", tokenHash: Self.hashes[2], readOnly: false)
            let tokens = try store.adminTokens()
            XCTAssertEqual(tokens.map(\.name), ["ops", "viewer", "ops"], backend.name)
            XCTAssertEqual(tokens.map { $0.revokedAt != nil }, [true, false, false], backend.name)
        }
    }

    func testAChangeAndItsRecordCommitOrRollBackTogether() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let ops = try store.addAdminToken(name: "ops", tokenHash: Self.hashes[0], readOnly: false)
            let route = try store.recordingAdminChange(by: ops, action: "route.create", target: "alice", detail: "{\"login\":\"alice\"}") {
                () throws(RouteStoreError) in try store.add(Route(login: "alice", upstreamHost: "10.0.0.1"))
            }
            XCTAssertEqual(route.login, "alice", backend.name)
            XCTAssertThrowsError(try store.recordingAdminChange(by: ops, action: "route.create", target: "alice", detail: "{}") {
                () throws(RouteStoreError) in try store.add(Route(login: "alice", upstreamHost: "10.0.0.2"))
            }, "a refused change records nothing (\(backend.name))")
            // A change that succeeded inside a transaction whose record then fails is undone.
            XCTAssertThrowsError(try store.recordingAdminChange(by: ops, action: "route.update", target: "alice", detail: "{}") {
                () throws(RouteStoreError) in
                _ = try store.update(login: "alice", with: RouteChanges(upstreamHost: "10.9.9.9"))
                throw RouteStoreError.database("the record failed")
            })
            XCTAssertEqual(try store.route(for: "alice")?.upstreamHost, "10.0.0.1", "the change was rolled back (\(backend.name))")
            let changes = try store.adminChanges(limit: 10)
            XCTAssertEqual(changes.map(\.action), ["route.create"], backend.name)
            XCTAssertEqual(changes.first?.token, "ops", backend.name)
            XCTAssertEqual(changes.first?.tokenID, ops.id, backend.name)
            XCTAssertEqual(changes.first?.target, "alice", backend.name)
            XCTAssertEqual(changes.first?.detail, "{\"login\":\"alice\"}", backend.name)
            XCTAssertEqual(try store.adminChanges(limit: 0), [], backend.name)
        }
    }
}
