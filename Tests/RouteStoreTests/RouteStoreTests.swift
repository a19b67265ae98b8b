import Foundation
import XCTest

@testable import RouteStore

/// The store's contract, checked on both backends: each test runs on SQLite, then on
/// PostgreSQL (a fresh schema in the server `scripts/test.sh` starts; see `TestDatabases`).
final class RouteStoreTests: StoreTestCase {
    private func openStore() throws -> SQLRouteStore {
        try SQLRouteStore(directory: DataDirectory(explicit: directory))
    }

    func testAddThenReadBackWithDefaults() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let added = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            XCTAssertEqual(added.upstreamPort, 22)
            XCTAssertNil(added.upstreamUser)
            XCTAssertEqual(added.effectiveUpstreamUser, "alice")
            XCTAssertTrue(added.enabled)
            let read = try XCTUnwrap(try store.route(for: "alice"))
            XCTAssertEqual(read.upstreamHost, "10.0.0.5")
            XCTAssertEqual(read.createdAt.timeIntervalSince1970, added.createdAt.timeIntervalSince1970, accuracy: 0.01)
        }
    }

    func testANameInAnotherCaseIsFound() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            XCTAssertTrue(try store.hasRoute(differingOnlyInCaseFrom: "ALICE"))
            XCTAssertTrue(try store.hasRoute(differingOnlyInCaseFrom: "Alice"))
            XCTAssertFalse(try store.hasRoute(differingOnlyInCaseFrom: "alice"), "the same name is its own route")
            XCTAssertFalse(try store.hasRoute(differingOnlyInCaseFrom: "bob"))
        }
    }

    func testTheCatchAllRouteTakesNoMappedIdentity() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            XCTAssertThrowsError(try store.add(Route(login: Route.catchAllLogin, upstreamHost: "10.0.0.9", identityFile: "/keys/k")))
            XCTAssertNil(try store.route(for: Route.catchAllLogin), "nothing was written")
            _ = try store.add(Route(login: Route.catchAllLogin, upstreamHost: "10.0.0.9"))
            XCTAssertThrowsError(try store.update(login: Route.catchAllLogin, with: RouteChanges(identityFile: .some("/keys/k"))))
            XCTAssertNil(try store.route(for: Route.catchAllLogin)?.identityFile)
        }
    }

    func testRoutesSurviveReopening() throws {
        try forEachBackend { backend in
            _ = try backend.openStore().add(Route(login: "dave", upstreamHost: "10.0.0.6", upstreamUser: "deploy"))
            let reopened = try backend.openStore()
            XCTAssertEqual(try reopened.route(for: "dave")?.effectiveUpstreamUser, "deploy")
            XCTAssertEqual(try reopened.allRoutes().map(\.login), ["dave"])
        }
    }

    func testDuplicateAddFailsAndKeepsTheOriginal() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            XCTAssertThrowsError(try store.add(Route(login: "alice", upstreamHost: "10.9.9.9"))) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "route-exists")
            }
            XCTAssertEqual(try store.route(for: "alice")?.upstreamHost, "10.0.0.5")
        }
    }

    func testInvalidRoutesAreNotWritten() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let bad: [(Route, String)] = [
                (Route(login: "al ice", upstreamHost: "h"), "invalid-login"),
                (Route(login: "alice;rm", upstreamHost: "h"), "invalid-login"),
                (Route(login: "", upstreamHost: "h"), "invalid-login"),
                (Route(login: "alice", upstreamHost: ""), "invalid-host"),
                (Route(login: "alice", upstreamHost: "bad host"), "invalid-host"),
                (Route(login: "alice", upstreamHost: "h", upstreamPort: 0), "invalid-port"),
                (Route(login: "alice", upstreamHost: "h", upstreamPort: 65536), "invalid-port"),
                (Route(login: "alice", upstreamHost: "h", upstreamUser: "x\"y"), "invalid-upstream-user"),
            ]
            for (route, code) in bad {
                XCTAssertThrowsError(try store.add(route), "\(route)") { error in
                    XCTAssertEqual((error as? RouteStoreError)?.code, code, "\(route)")
                }
            }
            XCTAssertEqual(try store.allRoutes(), [])
        }
    }

    func testUpdateChangesOnlyWhatWasAsked() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let original = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5", upstreamPort: 2200))
            Thread.sleep(forTimeInterval: 0.01)
            let updated = try store.update(login: "alice", with: RouteChanges(upstreamUser: .some("deploy"), enabled: false))
            XCTAssertEqual(updated.upstreamHost, "10.0.0.5")
            XCTAssertEqual(updated.upstreamPort, 2200)
            XCTAssertEqual(updated.upstreamUser, "deploy")
            XCTAssertFalse(updated.enabled)
            XCTAssertGreaterThan(updated.updatedAt, original.updatedAt)
        }
    }

    func testInvalidUpdateLeavesTheRouteIntact() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let original = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            XCTAssertThrowsError(try store.update(login: "alice", with: RouteChanges(upstreamHost: "10.0.0.6", upstreamPort: 70000)))
            XCTAssertEqual(try store.route(for: "alice"), original)
            XCTAssertThrowsError(try store.update(login: "nobody", with: RouteChanges(enabled: false))) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "route-not-found")
            }
            XCTAssertThrowsError(try store.update(login: "alice", with: RouteChanges())) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "nothing-to-change")
            }
        }
    }

    func testRemove() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            try store.remove(login: "alice")
            XCTAssertNil(try store.route(for: "alice"))
            XCTAssertThrowsError(try store.remove(login: "alice")) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "route-not-found")
            }
        }
    }

    func testKeysAreAddedAllOrNothingAndGoWithTheirRoute() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            let first = ClientKey(login: "alice", keyType: "ssh-ed25519", keyBase64: "AAAA", fingerprint: "SHA256:" + String(repeating: "a", count: 43), comment: "one")
            let second = ClientKey(login: "alice", keyType: "ssh-ed25519", keyBase64: "BBBB", fingerprint: "SHA256:" + String(repeating: "b", count: 43), comment: "two")
            try store.addKeys([first], to: "alice")
            XCTAssertThrowsError(try store.addKeys([second, first], to: "alice")) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "key-exists")
            }
            XCTAssertEqual(try store.keys(for: "alice").map(\.comment), ["one"], "a failed add wrote part of its keys")
            XCTAssertThrowsError(try store.addKeys([second], to: "nobody"))
            try store.addKeys([second], to: "alice")
            XCTAssertTrue(try store.isKeyListed(second.fingerprint, for: "alice"))
            try store.removeKey(first.fingerprint, from: "alice")
            XCTAssertFalse(try store.isKeyListed(first.fingerprint, for: "alice"))
            try store.remove(login: "alice")
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            XCTAssertEqual(try store.keys(for: "alice"), [], "keys outlived their route")
        }
    }

    func testTrustOnFirstUsePinsOnlyOnce() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            _ = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5"))
            let firstKey = "SHA256:" + String(repeating: "c", count: 43)
            XCTAssertTrue(try store.pinHostKeyIfUnpinned(login: "alice", fingerprint: firstKey))
            XCTAssertFalse(try store.pinHostKeyIfUnpinned(login: "alice", fingerprint: "SHA256:" + String(repeating: "d", count: 43)))
            XCTAssertEqual(try store.route(for: "alice")?.hostKeyFingerprint, firstKey)
            let moved = try store.update(login: "alice", with: RouteChanges(upstreamHost: "10.0.0.6"))
            XCTAssertNil(moved.hostKeyFingerprint, "a new host kept the old host's pin")
        }
    }

    func testMigrationsApplyOnceAndAreRecorded() throws {
        try forEachBackend { backend in
            let first = try backend.openStore()
            let versions = try first.appliedMigrationVersions()
            XCTAssertEqual(versions, Migration.embedded(for: backend.dialect).map(\.version))
            let second = try backend.openStore()
            XCTAssertEqual(try second.appliedMigrationVersions(), versions)
        }
    }

    func testEveryMigrationFileIsEmbedded() throws {
        for dialect in [SQLDialect.sqlite, .postgresql] {
            let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("migrations/\(dialect.rawValue)")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
            XCTAssertFalse(files.isEmpty)
            XCTAssertEqual(files, Migration.embedded(for: dialect).map(\.name))
            for migration in Migration.embedded(for: dialect) {
                let text = try String(contentsOf: folder.appendingPathComponent(migration.name), encoding: .utf8)
                XCTAssertEqual(text, migration.sql, migration.name)
            }
        }
        XCTAssertEqual(
            Migration.embedded(for: .sqlite).last?.version, Migration.embedded(for: .postgresql).last?.version,
            "both dialects end at the same version")
    }

    func testDatabaseUsesWALAndPrivateFiles() throws {
        _ = try openStore()
        let database = try SQLiteDatabase(path: DataDirectory(explicit: directory).databasePath)
        var mode = ""
        try database.query("PRAGMA journal_mode") { row in mode = row.text(0) ?? "" }
        XCTAssertEqual(mode, "wal")
        let attributes = try FileManager.default.attributesOfItem(atPath: DataDirectory(explicit: directory).databasePath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: directory)
        XCTAssertEqual((directoryAttributes[.posixPermissions] as? NSNumber)?.intValue, 0o700)
    }

    func testDataDirectoryChoice() {
        XCTAssertEqual(DataDirectory(explicit: "/x", environment: ["SWITCHBOARD_DATA_DIR": "/y"]).path, "/x")
        XCTAssertEqual(DataDirectory(explicit: nil, environment: ["SWITCHBOARD_DATA_DIR": "/y"]).path, "/y")
        XCTAssertEqual(DataDirectory(explicit: nil, environment: [:]).path, DataDirectory.defaultPath(environment: [:]))
        if geteuid() == 0 {
            XCTAssertEqual(DataDirectory.defaultPath(environment: [:]), "/var/lib/switchboard")
        } else {
            XCTAssertEqual(DataDirectory.defaultPath(environment: ["XDG_DATA_HOME": "/d"]), "/d/switchboard")
        }
    }
}
