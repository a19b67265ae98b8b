import CLibPQ
import Foundation

/// PostgreSQL's client library, loaded with dlopen when the first PostgreSQL store is opened,
/// not linked. libpq brings a large tree of libraries (LDAP, GnuTLS, Kerberos, SASL) whose
/// mere presence in the process cost every connection thread about 4 KiB more resident memory
/// (measured: 76.7 → 80.7 KiB per idle session with the tree preloaded into a build without
/// it), so a node on SQLite does not load it at all, and needs no libpq installed.
/// The header (`CLibPQ`) gives the types; each function is looked up once, here.
struct LibPQ: @unchecked Sendable {
    // Sendable: immutable C function pointers into a library that is never unloaded.
    let connectdbParams: @convention(c) (
        UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?, Int32
    ) -> OpaquePointer?
    let status: @convention(c) (OpaquePointer?) -> ConnStatusType
    let errorMessage: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    let finish: @convention(c) (OpaquePointer?) -> Void
    let setNoticeProcessor: @convention(c) (OpaquePointer?, PQnoticeProcessor?, UnsafeMutableRawPointer?) -> PQnoticeProcessor?
    let exec: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> OpaquePointer?
    let execParams: @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?,
        UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> OpaquePointer?
    let clear: @convention(c) (OpaquePointer?) -> Void
    let resultStatus: @convention(c) (OpaquePointer?) -> ExecStatusType
    let resultErrorMessage: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    let resultErrorField: @convention(c) (OpaquePointer?, Int32) -> UnsafeMutablePointer<CChar>?
    let tupleCount: @convention(c) (OpaquePointer?) -> Int32
    let commandTuples: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    let isNull: @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    let value: @convention(c) (OpaquePointer?, Int32, Int32) -> UnsafeMutablePointer<CChar>?
    let socket: @convention(c) (OpaquePointer?) -> Int32
    let consumeInput: @convention(c) (OpaquePointer?) -> Int32
    let notifies: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<PGnotify>?
    let freeMemory: @convention(c) (UnsafeMutableRawPointer?) -> Void

    /// The library, loaded on first use.
    static func loaded() throws(RouteStoreError) -> LibPQ { try shared.get() }

    private static let shared: Result<LibPQ, RouteStoreError> = Result { () throws(RouteStoreError) in try LibPQ() }

    private init() throws(RouteStoreError) {
        guard let library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            throw .database("a PostgreSQL store needs libpq (Debian: libpq5): \(reason)")
        }
        func function<T>(_ name: String) throws(RouteStoreError) -> T {
            guard let address = dlsym(library, name) else { throw .database("libpq has no \(name)") }
            return unsafeBitCast(address, to: T.self)
        }
        connectdbParams = try function("PQconnectdbParams")
        status = try function("PQstatus")
        errorMessage = try function("PQerrorMessage")
        finish = try function("PQfinish")
        setNoticeProcessor = try function("PQsetNoticeProcessor")
        exec = try function("PQexec")
        execParams = try function("PQexecParams")
        clear = try function("PQclear")
        resultStatus = try function("PQresultStatus")
        resultErrorMessage = try function("PQresultErrorMessage")
        resultErrorField = try function("PQresultErrorField")
        tupleCount = try function("PQntuples")
        commandTuples = try function("PQcmdTuples")
        isNull = try function("PQgetisnull")
        value = try function("PQgetvalue")
        socket = try function("PQsocket")
        consumeInput = try function("PQconsumeInput")
        notifies = try function("PQnotifies")
        freeMemory = try function("PQfreemem")
    }
}
