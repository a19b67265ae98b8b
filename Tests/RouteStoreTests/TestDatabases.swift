import Foundation
import XCTest

@testable import RouteStore

/// The databases a store test runs on: SQLite in a temporary directory, and PostgreSQL when
/// `SWITCHBOARD_TEST_DATABASE` names a server (scripts/test.sh starts one). Each PostgreSQL
/// backend is a fresh schema, dropped after the test. Under `CI=true` a missing PostgreSQL is a
/// failure: a skipped backend must never pass for a tested one.
final class TestDatabases {
    static let environmentVariable = "SWITCHBOARD_TEST_DATABASE"

    struct Backend {
        let name: String
        let dialect: SQLDialect
        let location: StoreLocation

        func openStore() throws -> SQLRouteStore { try SQLRouteStore(location: location) }
    }

    private var schemas: [String] = []
    private let serverURL = ProcessInfo.processInfo.environment[TestDatabases.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }

    /// SQLite in `sqliteDirectory`, then PostgreSQL in a new schema.
    func backends(sqliteDirectory: String) throws -> [Backend] {
        let sqlite = Backend(name: "sqlite", dialect: .sqlite, location: .sqlite(DataDirectory(explicit: sqliteDirectory)))
        guard let url = try postgreSQLURL() else { return [sqlite] }
        return [sqlite, Backend(name: "postgresql", dialect: .postgresql, location: .postgresql(url))]
    }

    /// A URL whose connections work in a schema of their own, or nil when no server is given.
    func postgreSQLURL() throws -> String? {
        guard let serverURL else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                XCTFail("\(Self.environmentVariable) is not set under CI=true: the PostgreSQL half of the store tests did not run")
            }
            return nil
        }
        let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try PostgreSQLDatabase(url: serverURL).execute("CREATE SCHEMA \(schema)")
        schemas.append(String(schema))
        return serverURL + (serverURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
    }

    func dropAll() {
        guard let serverURL, !schemas.isEmpty, let database = try? PostgreSQLDatabase(url: serverURL) else { return }
        for schema in schemas { try? database.execute("DROP SCHEMA \(schema) CASCADE") }
        schemas.removeAll()
    }
}

/// A store test case: a temporary SQLite directory and the PostgreSQL schemas it made, both
/// removed after each test, and `forEachBackend` to run a test body on each.
class StoreTestCase: XCTestCase {
    private(set) var directory: String!
    private(set) var databases: TestDatabases!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "switchboard-store-\(UUID().uuidString)"
        databases = TestDatabases()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
        databases.dropAll()
    }

    /// Runs `body` on SQLite and then on PostgreSQL, naming the backend in any error.
    func forEachBackend(_ body: (TestDatabases.Backend) throws -> Void) throws {
        for backend in try databases.backends(sqliteDirectory: directory) {
            do {
                try body(backend)
            } catch {
                XCTFail("\(backend.name): \(error)")
            }
        }
    }
}
