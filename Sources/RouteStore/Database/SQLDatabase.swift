/// One database the store can run on: SQLite (a file in the data directory, the embedded
/// default) or PostgreSQL (shared by the nodes of a cluster). The store writes its SQL once,
/// with `?` placeholders, in the subset both engines read the same way; what differs between
/// them is answered here (`dialect`) and nowhere else.
protocol SQLDatabase: AnyObject, Sendable {
    var dialect: SQLDialect { get }

    /// Runs one or more statements that take no parameters and return no rows.
    func execute(_ sql: String) throws(RouteStoreError)

    /// Runs a statement with `bindings`, calling `row` for each result row; returns the number
    /// of rows an INSERT, UPDATE or DELETE changed.
    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue], row: (any SQLRow) throws(RouteStoreError) -> Void) throws(RouteStoreError) -> Int

    /// Runs `body` in one transaction, rolling back if it throws. Calls made inside `body` on the
    /// same thread belong to the transaction.
    func transaction<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T

    /// Runs `body` while holding the cluster-wide migration lock, so nodes starting together
    /// apply each migration once.
    func withMigrationLock<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T

    /// Tells every node listening on `channel` (PostgreSQL's NOTIFY); nothing on SQLite, where
    /// one node polls.
    func notify(channel: String, payload: String) throws(RouteStoreError)

    /// Waits up to `timeout` seconds for a notification on `channel`; true if one came. On
    /// SQLite it only waits.
    func waitForNotification(on channel: String, timeout: Double) -> Bool
}

extension SQLDatabase {
    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue] = []) throws(RouteStoreError) -> Int {
        try query(sql, bindings) { _ in }
    }

    @discardableResult
    func query(_ sql: String, row: (any SQLRow) throws(RouteStoreError) -> Void) throws(RouteStoreError) -> Int {
        try query(sql, [], row: row)
    }
}

/// Where the two engines' SQL differs.
enum SQLDialect: String, Sendable {
    case sqlite
    case postgresql

    /// The database's clock as milliseconds since 1970: heartbeats, bans and kill requests are
    /// timed by the one clock every node shares.
    var nowMilliseconds: String {
        switch self {
        case .sqlite: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
        case .postgresql: "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        }
    }
}

/// A value bound to a statement parameter.
enum SQLValue {
    case integer(Int)
    case text(String)
    case null

    static func optionalText(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }
    static func optionalFlag(_ flag: Bool?) -> SQLValue { flag.map { .integer($0 ? 1 : 0) } ?? .null }
    static func optionalInteger(_ value: Int?) -> SQLValue { value.map(SQLValue.integer) ?? .null }
}

/// One result row; valid only inside the `row` closure of `SQLDatabase.query`.
protocol SQLRow {
    func integer(_ column: Int32) -> Int
    func text(_ column: Int32) -> String?
}

extension SQLRow {
    func optionalInteger(_ column: Int32) -> Int? { text(column).flatMap { Int($0) } }
}
