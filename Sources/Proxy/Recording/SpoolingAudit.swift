import Foundation
import Logging
import RouteStore
import Synchronization

/// The audit trail as the proxy writes it: straight to the store while the database answers;
/// while it does not, each write is kept in order in a spool file in the data directory
/// (`audit-spool.<pid>.jsonl`, one per process, since an old and a new process share the data
/// directory during a restart) and written when the database answers again (`flush`, called by
/// the cluster duties every second). A session that starts during an outage gets a provisional
/// id (negative); once its start reaches the database, later writes for it go to the real id.
/// The spool outlives a crash: a process that starts takes over the files of processes that no
/// longer run, and writes them.
final class SpoolingAudit: SessionAudit {
    private enum Entry: Codable {
        case start(provisionalID: Int64, record: SessionRecord)
        case recording(id: Int64, path: String)
        case end(id: Int64, SessionEnd)
    }

    private struct State {
        var pending: [Entry] = []
        var realIDs: [Int64: Int64] = [:]
        var nextProvisionalID: Int64 = -1
    }

    private let store: any SessionAudit
    private let file: String
    /// Held while writing to the store or the file, so entries keep their order.
    private let state: Mutex<State>

    /// Spools into `directory`, adopting the spools of processes that no longer run.
    init(store: any SessionAudit, directory: String, processID: Int32 = getpid(), logger: Logger) {
        self.store = store
        file = "\(directory)/audit-spool.\(processID).jsonl"
        var state = State()
        var text = ""
        for orphan in Self.orphanedSpools(in: directory, besides: processID) {
            // Renaming is the claim: of two processes starting together, one gets each file.
            let claimed = "\(file).adopting"
            guard rename("\(directory)/\(orphan)", claimed) == 0 else { continue }
            text += (try? String(contentsOfFile: claimed, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: claimed)
        }
        if !text.isEmpty {
            state.pending = text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }
            let lowest = state.pending.compactMap { entry -> Int64? in
                if case .start(let id, _) = entry { return id }
                return nil
            }.min() ?? 0
            state.nextProvisionalID = min(-1, lowest - 1)
            if !state.pending.isEmpty {
                logger.notice("audit rows spooled by an earlier run are waiting for the database", metadata: ["spooled": "\(state.pending.count)"])
            }
        }
        self.state = Mutex(state)
        try? persist(state)
    }

    /// Spool files of processes that are not running.
    private static func orphanedSpools(in directory: String, besides processID: Int32) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in
            guard name.hasPrefix("audit-spool."), name.hasSuffix(".jsonl"),
                  let owner = Int32(name.dropFirst("audit-spool.".count).dropLast(".jsonl".count)), owner != processID
            else { return false }
            return kill(owner, 0) != 0 && errno == ESRCH
        }.sorted()
    }

    func recordStart(_ session: SessionRecord) throws(RouteStoreError) -> Int64 {
        try state.withLock { state throws(RouteStoreError) in
            if state.pending.isEmpty, let id = try Self.unlessUnavailable({ () throws(RouteStoreError) in try store.recordStart(session) }) {
                return id
            }
            let id = state.nextProvisionalID
            state.nextProvisionalID -= 1
            try spool(.start(provisionalID: id, record: session), in: &state)
            return id
        }
    }

    func recordRecording(id: Int64, path: String) throws(RouteStoreError) {
        try write(.recording(id: id, path: path)) { store, id throws(RouteStoreError) in try store.recordRecording(id: id, path: path) }
    }

    func recordEnd(id: Int64, _ end: SessionEnd) throws(RouteStoreError) {
        try write(.end(id: id, end)) { store, id throws(RouteStoreError) in try store.recordEnd(id: id, end) }
    }

    func sessions(matching filter: SessionFilter) throws(RouteStoreError) -> [SessionRecord] {
        try store.sessions(matching: filter)
    }

    /// Writes the spooled entries in order until the database fails again.
    func flush(logger: Logger) {
        state.withLock { state in
            guard !state.pending.isEmpty else { return }
            var written = 0
            for entry in state.pending {
                do {
                    let done = try Self.unlessUnavailable { () throws(RouteStoreError) in
                        switch entry {
                        case .start(let provisionalID, let record):
                            state.realIDs[provisionalID] = try store.recordStart(record)
                        case .recording(let id, let path):
                            try store.recordRecording(id: state.realIDs[id] ?? id, path: path)
                        case .end(let id, let end):
                            // A start lost with the spool leaves nothing to end.
                            if id >= 0 || state.realIDs[id] != nil { try store.recordEnd(id: state.realIDs[id] ?? id, end) }
                        }
                    }
                    guard done != nil else { break }
                } catch {
                    logger.error("a spooled audit row was refused and is dropped", metadata: ["error": "\(error)"])
                }
                written += 1
            }
            state.pending.removeFirst(written)
            try? persist(state)
            if written > 0 { logger.notice("spooled audit rows written", metadata: ["written": "\(written)", "left": "\(state.pending.count)"]) }
        }
    }

    /// Writes now if nothing waits before it and the database answers, else spools.
    private func write(_ entry: Entry, to write: (any SessionAudit, Int64) throws(RouteStoreError) -> Void) throws(RouteStoreError) {
        try state.withLock { state throws(RouteStoreError) in
            let id: Int64
            switch entry {
            case .recording(let given, _), .end(let given, _): id = state.realIDs[given] ?? given
            case .start: id = 0
            }
            if state.pending.isEmpty && id >= 0, try Self.unlessUnavailable({ () throws(RouteStoreError) in try write(store, id) }) != nil {
                return
            }
            try spool(entry, in: &state)
        }
    }

    /// `body`'s result, or nil if the database did not answer; other errors stand.
    private static func unlessUnavailable<T>(_ body: () throws(RouteStoreError) -> T) throws(RouteStoreError) -> T? {
        do {
            return try body()
        } catch {
            if case .unavailable = error { return nil }
            throw error
        }
    }

    /// Appends `entry` to the spool file (one line, so a long outage does not rewrite the file
    /// at every write) and to the pending list.
    private func spool(_ entry: Entry, in state: inout State) throws(RouteStoreError) {
        do {
            let line = try JSONEncoder().encode(entry) + Data("\n".utf8)
            if !FileManager.default.fileExists(atPath: file) {
                FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            throw .database("cannot write the audit spool \(file): \(error)")
        }
        state.pending.append(entry)
        ProxyMetrics.auditSpooled(state.pending.count)
    }

    /// Rewrites the spool file with what is still pending (after a flush, or an adoption).
    private func persist(_ state: State) throws {
        ProxyMetrics.auditSpooled(state.pending.count)
        guard !state.pending.isEmpty else {
            try? FileManager.default.removeItem(atPath: file)
            return
        }
        let lines = try state.pending.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }
}
