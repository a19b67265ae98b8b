import Foundation

/// Which database holds Switchboard's state: the SQLite file in the data directory (the
/// embedded default, one node) or a PostgreSQL server shared by the nodes of a cluster.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(DataDirectory)
    /// A libpq connection URI: `postgresql://user:password@host1:5432,host2:5432/db?sslmode=…`.
    case postgresql(String)

    /// The environment variable that names the database.
    public static let environmentVariable = "SWITCHBOARD_DATABASE"

    /// Chooses the store: `database` (a `--database` flag, else the environment) if given, else
    /// SQLite in `dataDirectory`.
    public init(database: String?, dataDirectory: DataDirectory,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(RouteStoreError) {
        let chosen = database ?? environment[Self.environmentVariable]
        guard let url = chosen?.trimmingCharacters(in: .whitespaces), !url.isEmpty else {
            self = .sqlite(dataDirectory)
            return
        }
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw .database("unsupported database URL (give postgresql://… or leave it out for SQLite in the data directory)")
        }
        self = .postgresql(url)
    }

    /// Where the store is, for logs: the URL without its password.
    public var displayName: String {
        switch self {
        case .sqlite(let directory): directory.databasePath
        case .postgresql(let url): Self.withoutPassword(url)
        }
    }

    /// True when several nodes may share this store.
    public var isShared: Bool {
        if case .postgresql = self { return true }
        return false
    }

    static func withoutPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}
