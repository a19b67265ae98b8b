import Foundation

extension SQLRouteStore: AdminStore {
    public func addAdminToken(name: String, tokenHash: String, readOnly: Bool) throws(RouteStoreError) -> AdminToken {
        let name = try AdminToken.validatedName(name)
        return try database.transaction { () throws(RouteStoreError) in
            guard try tokens(where: "name = ? AND revoked_at IS NULL", [.text(name)]).isEmpty else { throw .tokenExists(name) }
            let token = AdminToken(name: name, readOnly: readOnly)
            var id: Int64?
            try database.query(
                "INSERT INTO admin_tokens (name, token_hash, read_only, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                [.text(name), .text(tokenHash), .integer(readOnly ? 1 : 0), .text(Timestamp.format(token.createdAt))]
            ) { row in id = Int64(row.integer(0)) }
            guard let id else { throw .database("the new token got no id") }
            return AdminToken(id: id, name: name, readOnly: readOnly, createdAt: token.createdAt)
        }
    }

    public func adminTokens() throws(RouteStoreError) -> [AdminToken] {
        try tokens(where: "1 = 1", [])
    }

    public func revokeAdminToken(name: String) throws(RouteStoreError) -> AdminToken {
        try database.transaction { () throws(RouteStoreError) in
            guard var token = try tokens(where: "name = ? AND revoked_at IS NULL", [.text(name)]).first else {
                throw .tokenNotFound(name)
            }
            let now = Date()
            try database.query("UPDATE admin_tokens SET revoked_at = ? WHERE id = ?", [.text(Timestamp.format(now)), .integer(Int(token.id))])
            token.revokedAt = now
            return token
        }
    }

    public func activeAdminToken(tokenHash: String) throws(RouteStoreError) -> AdminToken? {
        guard var token = try tokens(where: "token_hash = ? AND revoked_at IS NULL", [.text(tokenHash)]).first else { return nil }
        let now = Date()
        if token.lastUsedAt.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            try database.query("UPDATE admin_tokens SET last_used_at = ? WHERE id = ?", [.text(Timestamp.format(now)), .integer(Int(token.id))])
            token.lastUsedAt = now
        }
        return token
    }

    public func recordingAdminChange<T>(
        by token: AdminToken, action: String, target: String, detail: String,
        _ change: () throws(RouteStoreError) -> T
    ) throws(RouteStoreError) -> T {
        try database.transaction { () throws(RouteStoreError) in
            let result = try change()
            try database.query(
                "INSERT INTO admin_changes (at, token_name, token_id, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [.text(Timestamp.format(Date())), .text(token.name), .integer(Int(token.id)), .text(action), .text(target), .text(detail)])
            return result
        }
    }

    public func adminChanges(limit: Int) throws(RouteStoreError) -> [AdminChange] {
        var changes: [AdminChange] = []
        try database.query(
            "SELECT id, at, token_name, token_id, action, target, detail FROM admin_changes ORDER BY id DESC LIMIT ?", [.integer(max(limit, 0))]
        ) { row in
            changes.append(AdminChange(
                id: Int64(row.integer(0)), at: Timestamp.parse(row.text(1) ?? ""), token: row.text(2) ?? "", tokenID: Int64(row.integer(3)),
                action: row.text(4) ?? "", target: row.text(5) ?? "", detail: row.text(6) ?? ""))
        }
        return changes
    }

    private func tokens(where condition: String, _ bindings: [SQLValue]) throws(RouteStoreError) -> [AdminToken] {
        var tokens: [AdminToken] = []
        try database.query(
            "SELECT id, name, read_only, created_at, last_used_at, revoked_at FROM admin_tokens WHERE \(condition) ORDER BY id", bindings
        ) { row in
            tokens.append(AdminToken(
                id: Int64(row.integer(0)), name: row.text(1) ?? "", readOnly: row.integer(2) != 0,
                createdAt: Timestamp.parse(row.text(3) ?? ""), lastUsedAt: row.text(4).map(Timestamp.parse),
                revokedAt: row.text(5).map(Timestamp.parse)))
        }
        return tokens
    }
}
