import Foundation
import Synchronization

/// PostgreSQL through the system's libpq: a small pool of blocking connections, which suits the
/// proxy's one thread per client connection. A transaction keeps its connection for the
/// thread that opened it, so the store's calls inside `transaction` need no handle passed around.
///
/// When the server cannot be reached, calls fail at once with `.unavailable` instead of waiting
/// on every login: new connections are attempted only after a back-off that doubles from 0.25 s
/// up to 4 s, with ±50 % jitter so the nodes of a cluster do not all knock at the same instant.
final class PostgreSQLDatabase: SQLDatabase, Sendable {
    let dialect = SQLDialect.postgresql
    private let url: String
    private let poolSize: Int
    private let pool = PostgreSQLPool()
    private let transactions = Mutex<[UInt: PostgreSQLConnection]>([:])
    private let backoff = Mutex(ReconnectBackoff())
    private let listener = Mutex<PostgreSQLConnection?>(nil)
    /// The key the migrations' advisory lock is taken under: "switch" in ASCII.
    private static let migrationLockKey = 0x7377_6974_6368

    /// Connects once (so a wrong URL or password fails here, clearly) and keeps that connection.
    init(url: String, poolSize: Int = 4) throws(RouteStoreError) {
        self.url = url
        self.poolSize = poolSize
        let first = try PostgreSQLConnection(url: url)
        pool.checkIn(first, opened: true)
    }

    func execute(_ sql: String) throws(RouteStoreError) {
        try withConnection { connection throws(RouteStoreError) in try connection.execute(sql) }
    }

    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue], row: (any SQLRow) throws(RouteStoreError) -> Void) throws(RouteStoreError) -> Int {
        let statement = Self.numberedPlaceholders(sql)
        return try withConnection { connection throws(RouteStoreError) in
            try connection.query(statement, bindings, row: row)
        }
    }

    func transaction<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T {
        let thread = Self.currentThread
        if transactions.withLock({ $0[thread] }) != nil { return try body() }
        let connection = try checkOut()
        transactions.withLock { $0[thread] = connection }
        defer {
            transactions.withLock { $0[thread] = nil }
            checkIn(connection)
        }
        try connection.execute("BEGIN")
        do {
            let value = try body()
            try connection.execute("COMMIT")
            return value
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// `pg_advisory_lock` on one connection for the whole run, released before it goes back.
    func withMigrationLock<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T {
        let thread = Self.currentThread
        let connection = try checkOut()
        transactions.withLock { $0[thread] = connection }
        defer {
            try? connection.execute("SELECT pg_advisory_unlock(\(Self.migrationLockKey))")
            transactions.withLock { $0[thread] = nil }
            checkIn(connection)
        }
        try connection.execute("SELECT pg_advisory_lock(\(Self.migrationLockKey))")
        return try body()
    }

    func notify(channel: String, payload: String) throws(RouteStoreError) {
        try query("SELECT pg_notify(?, ?)", [.text(channel), .text(payload)])
    }

    func waitForNotification(on channel: String, timeout: Double) -> Bool {
        let connection: PostgreSQLConnection? = listener.withLock { current in
            if let current, current.isHealthy { return current }
            current = nil
            // Only a failed attempt moves the back-off on: waiting out the back-off is not one.
            guard backoff.withLock({ $0.mayTry() }) else { return nil }
            guard let fresh = try? PostgreSQLConnection(url: url), (try? fresh.execute("LISTEN \(channel)")) != nil else {
                backoff.withLock { $0.failed() }
                return nil
            }
            backoff.withLock { $0.succeeded() }
            current = fresh
            return fresh
        }
        guard let connection else {
            Thread.sleep(forTimeInterval: timeout)
            return false
        }
        return connection.waitForNotification(timeout: timeout)
    }

    // MARK: - The pool

    private func withConnection<T>(_ body: (PostgreSQLConnection) throws(RouteStoreError) -> T) throws(RouteStoreError) -> T {
        if let connection = transactions.withLock({ $0[Self.currentThread] }) {
            return try body(connection)
        }
        let connection = try checkOut()
        defer { checkIn(connection) }
        return try body(connection)
    }

    private func checkOut() throws(RouteStoreError) -> PostgreSQLConnection {
        switch pool.checkOut(limit: poolSize) {
        case .idle(let connection): return connection
        case .openNew:
            guard backoff.withLock({ $0.mayTry() }) else {
                pool.failedToOpen()
                throw .unavailable("PostgreSQL is unreachable; retrying shortly")
            }
            do {
                let connection = try PostgreSQLConnection(url: url)
                backoff.withLock { $0.succeeded() }
                return connection
            } catch {
                backoff.withLock { $0.failed() }
                pool.failedToOpen()
                throw error
            }
        }
    }

    /// A connection that broke goes away; the next call opens a new one.
    private func checkIn(_ connection: PostgreSQLConnection) {
        if !connection.isHealthy { backoff.withLock { $0.failed() } }
        pool.checkIn(connection.isHealthy ? connection : nil, opened: false)
    }

    private static var currentThread: UInt { UInt(bitPattern: Int(bitPattern: pthread_self())) }

    /// The store writes `?`; PostgreSQL numbers its parameters `$1`, `$2`, … (quoted text is
    /// left alone).
    static func numberedPlaceholders(_ sql: String) -> String {
        var out = ""
        var number = 0
        var inQuote = false
        for character in sql {
            if character == "'" { inQuote.toggle() }
            if character == "?" && !inQuote {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}

/// Idle connections and how many are open; `checkOut` waits while all are busy.
private final class PostgreSQLPool: @unchecked Sendable {
    // Every field is read and written only with `condition` locked.
    private let condition = NSCondition()
    private var idle: [PostgreSQLConnection] = []
    private var open = 0

    enum CheckOut {
        case idle(PostgreSQLConnection)
        /// The caller counts as one more open connection and must open it (or call `failedToOpen`).
        case openNew
    }

    func checkOut(limit: Int) -> CheckOut {
        condition.lock()
        defer { condition.unlock() }
        while idle.isEmpty && open >= limit { condition.wait() }
        if let connection = idle.popLast() { return .idle(connection) }
        open += 1
        return .openNew
    }

    func failedToOpen() {
        condition.lock()
        open -= 1
        condition.signal()
        condition.unlock()
    }

    /// Returns a connection (nil: it broke and is gone). `opened` counts one opened outside the pool.
    func checkIn(_ connection: PostgreSQLConnection?, opened: Bool) {
        condition.lock()
        if opened { open += 1 }
        if let connection { idle.append(connection) } else { open -= 1 }
        condition.signal()
        condition.unlock()
    }
}

/// When the next connection attempt may be made after failures.
private struct ReconnectBackoff {
    private var delay = 0.0
    private var notBefore = ContinuousClock.now

    func mayTry() -> Bool { ContinuousClock.now >= notBefore }

    mutating func failed() {
        delay = min(max(delay * 2, 0.25), 4)
        notBefore = .now + .milliseconds(Int(delay * Double.random(in: 500...1500)))
    }

    mutating func succeeded() {
        delay = 0
        notBefore = .now
    }
}
