import CLibPQ
import Foundation

/// One libpq connection. Used by one thread at a time (the pool hands it out to one caller, a
/// transaction keeps it for one thread): that is why `@unchecked Sendable` is sound.
final class PostgreSQLConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    private let pq: LibPQ

    /// Connection settings the URL may override: give up connecting after 3 s, and notice a
    /// server that vanished without closing within seconds rather than minutes.
    private static let defaults: [(String, String)] = [
        ("application_name", "switchboard"), ("connect_timeout", "3"),
        ("keepalives", "1"), ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "3"),
        ("tcp_user_timeout", "10000"),
    ]

    init(url: String) throws(RouteStoreError) {
        let pq = try LibPQ.loaded()
        self.pq = pq
        let pairs = Self.defaults + [("dbname", url)]
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer { (keywords + values).forEach { free($0) } }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        guard let connection = pq.connectdbParams(keywordPointers, valuePointers, 1) else {
            throw .unavailable("cannot connect to PostgreSQL: out of memory")
        }
        guard pq.status(connection) == CONNECTION_OK else {
            let message = Self.trimmed(pq.errorMessage(connection))
            pq.finish(connection)
            throw .unavailable("cannot connect to PostgreSQL: \(message)")
        }
        handle = connection
        // libpq would print notices and a server's goodbye ("terminating connection due to
        // administrator command") on stderr, past the proxy's log; the errors that matter reach
        // the caller as results.
        pq.setNoticeProcessor(handle, { _, _ in }, nil)
        // Quiet: NOTICE lines (e.g. "relation already exists, skipping") are not the proxy's log.
        _ = pq.exec(handle, "SET client_min_messages = warning").map { pq.clear($0) }
    }

    deinit {
        pq.finish(handle)
    }

    var isHealthy: Bool { pq.status(handle) == CONNECTION_OK }

    /// Runs statements without parameters (several may be separated by semicolons).
    func execute(_ sql: String) throws(RouteStoreError) {
        let result = pq.exec(handle, sql)
        defer { pq.clear(result) }
        try check(result)
    }

    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue], row: (any SQLRow) throws(RouteStoreError) -> Void) throws(RouteStoreError) -> Int {
        let texts: [UnsafeMutablePointer<CChar>?] = bindings.map { value in
            switch value {
            case .integer(let number): strdup(String(number))
            case .text(let text): strdup(text)
            case .null: nil
            }
        }
        defer { texts.forEach { free($0) } }
        let parameters = texts.map { $0.map { UnsafePointer($0) } }
        let result = pq.execParams(handle, sql, Int32(bindings.count), nil, parameters, nil, nil, 0)
        defer { pq.clear(result) }
        try check(result)
        for index in 0..<pq.tupleCount(result) {
            try row(PostgreSQLRow(pq: pq, result: result, index: index))
        }
        return pq.commandTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
    }

    /// Waits up to `timeout` seconds for a NOTIFY on a channel this connection LISTENs to.
    func waitForNotification(timeout: Double) -> Bool {
        if takeNotifications() { return true }
        var descriptor = pollfd(fd: pq.socket(handle), events: Int16(POLLIN), revents: 0)
        guard descriptor.fd >= 0 else {
            Thread.sleep(forTimeInterval: timeout)
            return false
        }
        guard poll(&descriptor, 1, Int32(timeout * 1000)) > 0 else { return false }
        _ = pq.consumeInput(handle)
        return takeNotifications()
    }

    private func takeNotifications() -> Bool {
        var any = false
        while let notification = pq.notifies(handle) {
            pq.freeMemory(notification)
            any = true
        }
        return any
    }

    /// Maps a failed result to the store's error: a lost server is `.unavailable` (the proxy
    /// may fall back on what it knows), anything else a database error.
    private func check(_ result: OpaquePointer?) throws(RouteStoreError) {
        let status = result.map(pq.resultStatus) ?? PGRES_FATAL_ERROR
        guard status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK else { return }
        let message = Self.trimmed(result.map(pq.resultErrorMessage) ?? pq.errorMessage(handle))
        let state = result.flatMap { pq.resultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? ""
        // Class 08 is "connection exception"; 57P0x: the server is shutting down or starting.
        if !isHealthy || state.hasPrefix("08") || state.hasPrefix("57P") {
            throw .unavailable(message.isEmpty ? "connection to PostgreSQL lost" : message)
        }
        throw .database(message)
    }

    private static func trimmed(_ text: UnsafeMutablePointer<CChar>?) -> String {
        text.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }
}

/// One row of a libpq result (values arrive as text).
private struct PostgreSQLRow: SQLRow {
    let pq: LibPQ
    let result: OpaquePointer?
    let index: Int32

    func integer(_ column: Int32) -> Int { text(column).flatMap { Int($0) } ?? 0 }

    func text(_ column: Int32) -> String? {
        guard pq.isNull(result, index, column) == 0, let value = pq.value(result, index, column) else { return nil }
        return String(cString: value)
    }
}
