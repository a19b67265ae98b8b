import Foundation

/// One numbered schema change from the repository's `migrations/` folder, embedded in the binary.
struct Migration: Sendable {
    let version: Int
    let name: String
    let sql: String

    /// The migrations compiled into this binary for `dialect`, in version order. The files in
    /// `migrations/<dialect>/` are the only source of the schema; SwiftPM embeds them
    /// (`.embedInCode`), so no path is needed at run time. Both dialects use the same version
    /// numbers; PostgreSQL starts from a baseline (version 6) equal to SQLite's first six.
    static func embedded(for dialect: SQLDialect) -> [Migration] {
        // SwiftPM names each embedded file after its file name, replacing a leading digit with "_".
        let files: [(String, [UInt8])] = switch dialect {
        case .sqlite: [
            ("0001_create_routes.sql", PackageResources._001_create_routes_sql),
            ("0002_upstream_host_keys.sql", PackageResources._002_upstream_host_keys_sql),
            ("0003_client_keys.sql", PackageResources._003_client_keys_sql),
            ("0004_session_audit.sql", PackageResources._004_session_audit_sql),
            ("0005_forwarding_policy.sql", PackageResources._005_forwarding_policy_sql),
            ("0006_session_recording.sql", PackageResources._006_session_recording_sql),
            ("0007_cluster.sql", PackageResources._007_cluster_sql),
            ("0008_certificates.sql", PackageResources._008_certificates_sql),
            ("0009_access_policy.sql", PackageResources._009_access_policy_sql),
            ("0010_admin_api.sql", PackageResources._010_admin_api_sql),
        ]
        case .postgresql: [
            ("0006_baseline.pg.sql", PackageResources._006_baseline_pg_sql),
            ("0007_cluster.pg.sql", PackageResources._007_cluster_pg_sql),
            ("0008_certificates.pg.sql", PackageResources._008_certificates_pg_sql),
            ("0009_access_policy.pg.sql", PackageResources._009_access_policy_pg_sql),
            ("0010_admin_api.pg.sql", PackageResources._010_admin_api_pg_sql),
        ]
        }
        return files.map { file, bytes in
            let version = Int(file.prefix { $0.isNumber }) ?? 0
            return Migration(version: version, name: file, sql: String(decoding: bytes, as: UTF8.self))
        }.sorted { $0.version < $1.version }
    }
}

/// Applies embedded migrations exactly once each, recording them in `schema_migrations`.
enum MigrationRunner {
    /// Under the database's migration lock, so nodes starting together do not race.
    static func migrate(_ database: any SQLDatabase, migrations: [Migration]? = nil) throws(RouteStoreError) {
        let migrations = migrations ?? Migration.embedded(for: database.dialect)
        try database.withMigrationLock { () throws(RouteStoreError) in try migrate(database, applying: migrations) }
    }

    private static func migrate(_ database: any SQLDatabase, applying migrations: [Migration]) throws(RouteStoreError) {
        try database.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY NOT NULL,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """)
        for migration in migrations {
            try database.transaction { () throws(RouteStoreError) in
                var applied = false
                try database.query("SELECT 1 FROM schema_migrations WHERE version = ?", [.integer(migration.version)]) { _ in
                    applied = true
                }
                guard !applied else { return }
                do {
                    try database.execute(migration.sql)
                } catch {
                    throw .migration("\(migration.name): \(error)")
                }
                try database.query(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [.integer(migration.version), .text(migration.name), .text(Timestamp.format(Date()))])
            }
        }
    }

    /// Versions recorded as applied, in order.
    static func appliedVersions(_ database: any SQLDatabase) throws(RouteStoreError) -> [Int] {
        var versions: [Int] = []
        try database.query("SELECT version FROM schema_migrations ORDER BY version") { row in
            versions.append(row.integer(0))
        }
        return versions
    }
}

/// Timestamps are stored as ISO 8601 text in UTC with milliseconds.
enum Timestamp {
    static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func parse(_ text: String) -> Date {
        (try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
            ?? Date(timeIntervalSince1970: 0)
    }
}
