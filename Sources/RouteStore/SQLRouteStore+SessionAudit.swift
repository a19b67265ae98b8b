import Foundation

extension SQLRouteStore: SessionAudit {
    public func recordStart(_ session: SessionRecord) throws(RouteStoreError) -> Int64 {
        var id: Int64?
        try database.query(
            """
            INSERT INTO sessions (login, client_addr, client_port, upstream_host, upstream_port, upstream_user,
                                  auth_method, started_at, node_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            RETURNING id
            """,
            [.text(session.login), .text(session.clientAddress), .integer(session.clientPort), .text(session.upstreamHost),
             .integer(session.upstreamPort), .text(session.upstreamUser), .text(session.authMethod),
             .text(Timestamp.format(session.startedAt)), .optionalText(session.nodeID)]
        ) { row in id = Int64(row.integer(0)) }
        guard let id else { throw .database("the new session got no id") }
        return id
    }

    public func recordRecording(id: Int64, path: String) throws(RouteStoreError) {
        try database.query("UPDATE sessions SET recording_path = ? WHERE id = ?", [.text(path), .integer(Int(id))])
    }

    public func recordEnd(id: Int64, _ end: SessionEnd) throws(RouteStoreError) {
        try database.query(
            """
            UPDATE sessions SET ended_at = ?, bytes_to_upstream = ?, bytes_to_client = ?, exit_status = ?, end_reason = ?
            WHERE id = ?
            """,
            [.text(Timestamp.format(Date())), .integer(end.bytesToUpstream), .integer(end.bytesToClient),
             .optionalText(end.exitStatus), .text(end.reason), .integer(Int(id))])
    }

    public func sessions(matching filter: SessionFilter) throws(RouteStoreError) -> [SessionRecord] {
        var conditions: [String] = []
        var bindings: [SQLValue] = []
        if filter.activeOnly { conditions.append("s.ended_at IS NULL") }
        if let since = filter.since {
            conditions.append("(s.started_at >= ? OR s.ended_at IS NULL OR s.ended_at >= ?)")
            bindings += [.text(Timestamp.format(since)), .text(Timestamp.format(since))]
        }
        if let id = filter.id {
            conditions.append("s.id = ?")
            bindings.append(.integer(Int(id)))
        }
        if let login = filter.login {
            conditions.append("s.login = ?")
            bindings.append(.text(login))
        }
        var records: [SessionRecord] = []
        try database.query(
            """
            SELECT s.id, s.login, s.client_addr, s.client_port, s.upstream_host, s.upstream_port, s.upstream_user,
                   s.auth_method, s.started_at, s.ended_at, s.bytes_to_upstream, s.bytes_to_client, s.exit_status,
                   s.end_reason, s.recording_path, s.node_id, n.name
            FROM sessions s LEFT JOIN nodes n ON n.id = s.node_id
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY s.id DESC
            \(filter.limit.map { "LIMIT \(max($0, 0))" } ?? "")
            """, bindings
        ) { row in
            records.append(SessionRecord(
                id: Int64(row.integer(0)), login: row.text(1) ?? "", clientAddress: row.text(2) ?? "", clientPort: row.integer(3),
                upstreamHost: row.text(4) ?? "", upstreamPort: row.integer(5), upstreamUser: row.text(6) ?? "",
                authMethod: row.text(7) ?? "", startedAt: Timestamp.parse(row.text(8) ?? ""),
                endedAt: row.text(9).map(Timestamp.parse), bytesToUpstream: row.integer(10), bytesToClient: row.integer(11),
                exitStatus: row.text(12), endReason: row.text(13), recordingPath: row.text(14),
                nodeID: row.text(15), nodeName: row.text(16)))
        }
        return records
    }
}

extension SQLRouteStore: SessionCounting {
    public func runningSessions(of login: String, startedBefore id: Int64?) throws(RouteStoreError) -> Int {
        var count = 0
        try database.query(
            "SELECT count(*) FROM sessions WHERE login = ? AND ended_at IS NULL AND id < ?",
            [.text(login), .integer(Int(id ?? Int64.max))]
        ) { row in count = row.integer(0) }
        return count
    }
}
