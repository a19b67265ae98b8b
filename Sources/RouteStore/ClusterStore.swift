import Foundation

/// One Switchboard process registered in the store. A node is one run of `serve`: a restart is
/// a new node with the same name.
public struct NodeRecord: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case running
        /// Stopped accepting on SIGTERM; its sessions are finishing.
        case draining
        case stopped
        /// Stopped heartbeating: another node closed its sessions in the audit.
        case lost
    }

    public var id: String
    public var name: String
    /// The address clients reach it at (its listener).
    public var address: String
    public var version: String
    public var state: State
    public var startedAt: Date
    /// Seconds since its last heartbeat, by the database's clock.
    public var heartbeatAge: Double
    /// Sessions the audit shows it holding.
    public var activeSessions: Int
}

/// A ban on a client source decided by any node.
public struct SharedBan: Sendable, Equatable {
    public var source: String
    /// Seconds the ban still runs, by the database's clock.
    public var remainingSeconds: Double
}

/// A session an operator asked to end, and the node that holds it.
public struct KillRequest: Sendable, Equatable {
    public var session: SessionRecord
    public var nodeName: String?
}

/// What the nodes of a cluster share beyond routes and the audit: who is alive, which sessions
/// to end, bans, and the host keys every node must present. On SQLite the same calls serve the
/// single node, so `sessions kill` and `nodes` work there too.
public protocol ClusterStore: Sendable {
    func registerNode(id: String, name: String, address: String, version: String) throws(RouteStoreError)
    /// Records that the node is alive, by the database's clock.
    func heartbeat(nodeID: String, state: NodeRecord.State) throws(RouteStoreError)
    /// Running and recently stopped or lost nodes, by name.
    func nodes() throws(RouteStoreError) -> [NodeRecord]
    /// Marks nodes silent for `seconds` as lost and closes their sessions in the audit (reason
    /// `node-lost`); returns the names of the nodes marked now and how many sessions it closed.
    /// Also forgets old nodes and expired bans.
    func markLostNodes(silentFor seconds: Double) throws(RouteStoreError) -> (nodes: [String], sessions: Int)
    /// Asks the node holding session `id` to end it; fails if there is no such running session.
    func requestKill(sessionID id: Int64) throws(RouteStoreError) -> KillRequest
    /// Sessions of `nodeID` an operator asked to end and that are still running.
    func killRequests(for nodeID: String) throws(RouteStoreError) -> [Int64]
    /// Waits up to `timeout` seconds for a kill request (PostgreSQL: LISTEN; SQLite: just waits).
    func waitForKillRequest(timeout: Double) -> Bool
    func recordBan(source: String, seconds: Double, nodeID: String) throws(RouteStoreError)
    /// Bans still in force.
    func activeBans() throws(RouteStoreError) -> [SharedBan]
    /// Registers `keys` (type → fingerprint) for types the cluster has none for yet, then
    /// returns what the cluster has registered for every type.
    func registerHostKeys(_ keys: [String: String]) throws(RouteStoreError) -> [String: String]
}

extension SQLRouteStore: ClusterStore {
    /// The NOTIFY channel kill requests are announced on.
    static let killChannel = "switchboard_kill"
    /// Stopped and lost nodes stay listed this long.
    static let nodeHistoryMilliseconds = 24 * 3600 * 1000

    private var now: String { database.dialect.nowMilliseconds }

    public func registerNode(id: String, name: String, address: String, version: String) throws(RouteStoreError) {
        try database.query(
            """
            INSERT INTO nodes (id, name, address, version, state, started_ms, heartbeat_ms)
            VALUES (?, ?, ?, ?, 'running', \(now), \(now))
            """, [.text(id), .text(name), .text(address), .text(version)])
    }

    public func heartbeat(nodeID: String, state: NodeRecord.State) throws(RouteStoreError) {
        try database.query("UPDATE nodes SET heartbeat_ms = \(now), state = ? WHERE id = ?", [.text(state.rawValue), .text(nodeID)])
    }

    public func nodes() throws(RouteStoreError) -> [NodeRecord] {
        var nodes: [NodeRecord] = []
        try database.query(
            """
            SELECT n.id, n.name, n.address, n.version, n.state, n.started_ms, \(now) - n.heartbeat_ms,
                   (SELECT COUNT(*) FROM sessions s WHERE s.node_id = n.id AND s.ended_at IS NULL)
            FROM nodes n
            WHERE n.state IN ('running', 'draining') OR n.heartbeat_ms > \(now) - ?
            ORDER BY n.name, n.started_ms
            """, [.integer(Self.nodeHistoryMilliseconds)]
        ) { row in
            nodes.append(NodeRecord(
                id: row.text(0) ?? "", name: row.text(1) ?? "", address: row.text(2) ?? "", version: row.text(3) ?? "",
                state: row.text(4).flatMap(NodeRecord.State.init(rawValue:)) ?? .lost,
                startedAt: Date(timeIntervalSince1970: Double(row.integer(5)) / 1000),
                heartbeatAge: Double(row.integer(6)) / 1000, activeSessions: row.integer(7)))
        }
        return nodes
    }

    public func markLostNodes(silentFor seconds: Double) throws(RouteStoreError) -> (nodes: [String], sessions: Int) {
        try database.transaction { () throws(RouteStoreError) in
            var names: [String] = []
            try database.query(
                """
                UPDATE nodes SET state = 'lost'
                WHERE state IN ('running', 'draining') AND heartbeat_ms < \(now) - ?
                RETURNING name
                """, [.integer(Int(seconds * 1000))]
            ) { row in names.append(row.text(0) ?? "") }
            let closed = try database.query(
                """
                UPDATE sessions SET ended_at = ?, end_reason = 'node-lost'
                WHERE ended_at IS NULL AND node_id IN (SELECT id FROM nodes WHERE state = 'lost')
                """, [.text(Timestamp.format(Date()))])
            try database.query(
                "DELETE FROM nodes WHERE state IN ('stopped', 'lost') AND heartbeat_ms < \(now) - ?",
                [.integer(Self.nodeHistoryMilliseconds)])
            try database.query("DELETE FROM bans WHERE until_ms < \(now)")
            return (names, closed)
        }
    }

    public func requestKill(sessionID id: Int64) throws(RouteStoreError) -> KillRequest {
        let marked = try database.query(
            "UPDATE sessions SET kill_requested_ms = \(now) WHERE id = ? AND ended_at IS NULL", [.integer(Int(id))])
        guard marked > 0, let session = try sessions(matching: SessionFilter(id: id)).first else {
            throw .sessionNotRunning(id)
        }
        try database.notify(channel: Self.killChannel, payload: session.nodeID ?? "")
        return KillRequest(session: session, nodeName: session.nodeName)
    }

    public func killRequests(for nodeID: String) throws(RouteStoreError) -> [Int64] {
        var ids: [Int64] = []
        try database.query(
            "SELECT id FROM sessions WHERE node_id = ? AND ended_at IS NULL AND kill_requested_ms IS NOT NULL",
            [.text(nodeID)]
        ) { row in ids.append(Int64(row.integer(0))) }
        return ids
    }

    public func waitForKillRequest(timeout: Double) -> Bool {
        database.waitForNotification(on: Self.killChannel, timeout: timeout)
    }

    public func recordBan(source: String, seconds: Double, nodeID: String) throws(RouteStoreError) {
        try database.query(
            """
            INSERT INTO bans (source, until_ms, node_id) VALUES (?, \(now) + ?, ?)
            ON CONFLICT (source) DO UPDATE SET until_ms = excluded.until_ms, node_id = excluded.node_id
            """, [.text(source), .integer(Int(seconds * 1000)), .text(nodeID)])
    }

    public func activeBans() throws(RouteStoreError) -> [SharedBan] {
        var bans: [SharedBan] = []
        try database.query("SELECT source, until_ms - \(now) FROM bans WHERE until_ms > \(now)") { row in
            bans.append(SharedBan(source: row.text(0) ?? "", remainingSeconds: Double(row.integer(1)) / 1000))
        }
        return bans
    }

    public func registerHostKeys(_ keys: [String: String]) throws(RouteStoreError) -> [String: String] {
        try database.transaction { () throws(RouteStoreError) in
            for (type, fingerprint) in keys.sorted(by: { $0.key < $1.key }) {
                try database.query(
                    """
                    INSERT INTO cluster_host_keys (key_type, fingerprint, registered_ms) VALUES (?, ?, \(now))
                    ON CONFLICT (key_type) DO NOTHING
                    """, [.text(type), .text(fingerprint)])
            }
            var registered: [String: String] = [:]
            try database.query("SELECT key_type, fingerprint FROM cluster_host_keys") { row in
                registered[row.text(0) ?? ""] = row.text(1) ?? ""
            }
            return registered
        }
    }
}
