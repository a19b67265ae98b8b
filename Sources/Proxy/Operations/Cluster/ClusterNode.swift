import Foundation
import Logging
import RouteStore
import Synchronization

/// This process as a member of the store's node list, and the background duties that keep a
/// cluster coherent. One thread, awake about once a second (at once on PostgreSQL when a kill
/// request is announced):
/// - heartbeat every `heartbeatInterval`, by the database's clock;
/// - end the sessions an operator asked to end (`sessions kill`), on this node;
/// - mark nodes silent for `lostAfter` as lost and close their sessions in the audit;
/// - take in bans other nodes decided;
/// - write audit rows spooled while the database was away.
/// On SQLite, with one node, the same duties make `sessions kill` and `nodes` work.
public final class ClusterNode: Sendable {
    public let id: String
    public let name: String
    static let heartbeatInterval: Double = 2

    private let store: any ClusterStore
    private let lostAfter: Double
    private let liveSessions: LiveSessions
    private let penalties: SourcePenalties
    private let spool: SpoolingAudit
    private let logger: Logger
    private let state = Mutex(NodeRecord.State.running)
    private let stopped = Atomic<Bool>(false)
    private let reachable = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)

    init(
        name: String, store: any ClusterStore, lostAfter: Double, liveSessions: LiveSessions, penalties: SourcePenalties,
        spool: SpoolingAudit, logger: Logger
    ) {
        id = UUID().uuidString.lowercased()
        self.name = name
        self.store = store
        self.lostAfter = lostAfter
        self.liveSessions = liveSessions
        self.penalties = penalties
        self.spool = spool
        var logger = logger
        logger[metadataKey: "node.id"] = "\(id)"
        self.logger = logger
    }

    /// True while the database answered the last duty round (`/readyz`).
    public var databaseReachable: Bool { reachable.load(ordering: .relaxed) }

    /// Registers the node and starts its duties.
    func join(address: String, version: String) throws(RouteStoreError) {
        try store.registerNode(id: id, name: name, address: address, version: version)
        penalties.onBan { [store, id, logger] source, seconds in
            do {
                try store.recordBan(source: source, seconds: seconds, nodeID: id)
            } catch {
                logger.warning("cannot share a ban with the other nodes", metadata: ["error": "\(error)"])
            }
        }
        let thread = Thread { [self] in
            runDuties()
            finished.signal()
        }
        thread.name = "switchboard-cluster"
        thread.stackSize = 512 << 10
        thread.start()
        logger.info("joined the node list", metadata: ["node.name": "\(name)"])
    }

    /// The node stopped accepting and drains its sessions.
    func startDraining() {
        state.withLock { $0 = .draining }
    }

    /// Stops the duties and records the node as stopped.
    public func leave() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        _ = finished.wait(timeout: .now() + 3)
        spool.flush(logger: logger)
        try? store.heartbeat(nodeID: id, state: .stopped)
    }

    private func runDuties() {
        var lastHeartbeat = ContinuousClock.now - .seconds(60)
        var lastSweep = ContinuousClock.now
        while !stopped.load(ordering: .relaxed) {
            _ = store.waitForKillRequest(timeout: 1)
            guard !stopped.load(ordering: .relaxed) else { return }
            do {
                try endRequestedSessions()
                if ContinuousClock.now - lastHeartbeat >= .seconds(Self.heartbeatInterval) {
                    try store.heartbeat(nodeID: id, state: state.withLock { $0 })
                    lastHeartbeat = .now
                }
                if ContinuousClock.now - lastSweep >= .seconds(Self.heartbeatInterval) {
                    try closeSessionsOfLostNodes()
                    lastSweep = .now
                }
                penalties.takeShared(try store.activeBans().map { ($0.source, $0.remainingSeconds) })
                spool.flush(logger: logger)
                noteReachable(true, error: nil)
            } catch {
                noteReachable(false, error: error)
            }
        }
    }

    private func endRequestedSessions() throws(RouteStoreError) {
        for auditID in try store.killRequests(for: id) where liveSessions.end(auditID: auditID) {
            logger.info("ending a session on request", metadata: ["audit.id": "\(auditID)"])
        }
    }

    private func closeSessionsOfLostNodes() throws(RouteStoreError) {
        let (nodes, sessions) = try store.markLostNodes(silentFor: lostAfter)
        guard !nodes.isEmpty || sessions > 0 else { return }
        logger.warning("nodes stopped heartbeating: their sessions are closed in the audit", metadata: [
            "lost.nodes": "\(nodes.joined(separator: ","))", "lost.sessions": "\(sessions)",
        ])
        ProxyMetrics.lostNodeSessionsClosed(sessions)
    }

    private func noteReachable(_ now: Bool, error: RouteStoreError?) {
        ProxyMetrics.databaseUp(now)
        guard reachable.exchange(now, ordering: .relaxed) != now else { return }
        if now {
            logger.notice("the database answers again")
        } else {
            logger.error("the database does not answer: sessions go on, logins use what was read recently", metadata: [
                "error": "\(error.map { "\($0)" } ?? "?")",
            ])
        }
    }
}
