import CSQLite
import Foundation

/// A single SQLite connection. Every call is serialised by `lock`, so one instance may be
/// shared by the proxy's connection threads: that lock is why `@unchecked Sendable` is sound.
final class SQLiteDatabase: SQLDatabase, @unchecked Sendable {
    private var handle: OpaquePointer?
    private let lock = NSRecursiveLock()
    /// How many `transaction` calls are open on the thread holding `lock`: an inner one runs
    /// inside the outer one (as on PostgreSQL), so a change and its audit commit together.
    private var transactionDepth = 0

    var dialect: SQLDialect { .sqlite }

    /// Opens (creating if needed) the database at `path` in WAL mode with a busy timeout, so an
    /// admin command can write while the proxy reads.
    init(path: String, busyTimeoutMilliseconds: Int32 = 5000) throws(RouteStoreError) {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw .database("cannot open \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA foreign_keys = ON")
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws(RouteStoreError) {
        lock.lock()
        defer { lock.unlock() }
        var error: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &error) != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? lastError
            sqlite3_free(error)
            throw .database(message)
        }
    }

    /// `BEGIN IMMEDIATE … COMMIT`: the write lock is taken at the start, so two writers never
    /// both read before either writes. Inside another transaction, `body` joins it.
    func transaction<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T {
        lock.lock()
        defer { lock.unlock() }
        if transactionDepth > 0 { return try body() }
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// One process at a time migrates: each migration runs in its own `BEGIN IMMEDIATE`.
    func withMigrationLock<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T {
        try body()
    }

    func notify(channel: String, payload: String) {}

    func waitForNotification(on channel: String, timeout: Double) -> Bool {
        Thread.sleep(forTimeInterval: timeout)
        return false
    }

    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue], row: (any SQLRow) throws(RouteStoreError) -> Void) throws(RouteStoreError) -> Int {
        lock.lock()
        defer { lock.unlock() }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            throw .database(lastError)
        }
        defer { sqlite3_finalize(statement) }
        for (index, value) in bindings.enumerated() {
            let position = Int32(index + 1)
            let rc: Int32 = switch value {
            case .integer(let number): sqlite3_bind_int64(statement, position, Int64(number))
            case .text(let text): sqlite3_bind_text(statement, position, text, -1, csqlite_transient())
            case .null: sqlite3_bind_null(statement, position)
            }
            guard rc == SQLITE_OK else { throw .database(lastError) }
        }
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_ROW: try row(SQLiteRow(statement: statement))
            case SQLITE_DONE: return sqlite3_stmt_readonly(statement) != 0 ? 0 : Int(sqlite3_changes(handle))
            default: throw .database(lastError)
            }
        }
    }

    private var lastError: String { String(cString: sqlite3_errmsg(handle)) }
}

/// One SQLite result row.
private struct SQLiteRow: SQLRow {
    let statement: OpaquePointer?

    func integer(_ column: Int32) -> Int { Int(sqlite3_column_int64(statement, column)) }

    func text(_ column: Int32) -> String? {
        guard let bytes = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: bytes)
    }
}
