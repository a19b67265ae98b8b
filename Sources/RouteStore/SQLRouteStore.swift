import Foundation

/// The routing table, the audit trail and the cluster's shared state, on SQLite or PostgreSQL
/// (`StoreLocation`). The SQL is written once for both; `SQLDatabase` carries the differences.
/// Opening a store applies any pending migrations.
public final class SQLRouteStore: RouteStore {
    let database: any SQLDatabase

    /// Opens the store at `location` (creating the SQLite file and its directory if needed) and
    /// migrates it.
    public convenience init(location: StoreLocation) throws(RouteStoreError) {
        switch location {
        case .sqlite(let directory):
            try directory.create()
            try self.init(path: directory.databasePath)
        case .postgresql(let url):
            try self.init(database: PostgreSQLDatabase(url: url))
        }
    }

    /// Opens the SQLite database in `directory` (creating both if needed) and migrates it.
    public convenience init(directory: DataDirectory) throws(RouteStoreError) {
        try self.init(location: .sqlite(directory))
    }

    /// Opens the SQLite database file at `path` and migrates it. New files are created mode 0600.
    public convenience init(path: String) throws(RouteStoreError) {
        let previousMask = umask(0o077)
        defer { umask(previousMask) }
        try self.init(database: SQLiteDatabase(path: path))
    }

    init(database: any SQLDatabase) throws(RouteStoreError) {
        self.database = database
        try MigrationRunner.migrate(database)
    }

    /// True when the store is shared by several nodes (PostgreSQL).
    public var isShared: Bool { database.dialect == .postgresql }

    /// Versions of the migrations recorded in this database.
    public func appliedMigrationVersions() throws(RouteStoreError) -> [Int] {
        try MigrationRunner.appliedVersions(database)
    }

    public func route(for login: String) throws(RouteStoreError) -> Route? {
        try fetch(where: "login = ?", [.text(login)]).first
    }

    public func patternRoutes() throws(RouteStoreError) -> [Route] {
        try fetch(where: "login LIKE '~%'", []).sorted { ($0.matchPriority ?? 0, $0.login) < ($1.matchPriority ?? 0, $1.login) }
    }

    public func allRoutes() throws(RouteStoreError) -> [Route] {
        try fetch(where: "1 = 1", [])
    }

    public func add(_ route: Route) throws(RouteStoreError) -> Route {
        var route = try validated(route)
        return try database.transaction { () throws(RouteStoreError) in
            if route.isPattern && route.matchPriority == nil {
                route.matchPriority = (try patternRoutes().compactMap(\.matchPriority).max() ?? 0) + 10
            }
            if try self.route(for: route.login) != nil { throw .routeExists(route.login) }
            try database.query(
                """
                INSERT INTO routes (login, upstream_host, upstream_port, upstream_user, enabled,
                                    host_key_fingerprint, host_key_policy, identity_file, identity_key, forwarding, record,
                                    upstream_auth, certificate_principal, certificate_lifetime, created_at, updated_at,
                                    allow_from, schedule, valid_from, valid_until, max_sessions, allowed_channels,
                                    schedule_ends_sessions, match_priority)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [.text(route.login), .text(route.upstreamHost), .integer(route.upstreamPort),
                 .optionalText(route.upstreamUser), .integer(route.enabled ? 1 : 0),
                 .optionalText(route.hostKeyFingerprint), .optionalText(route.hostKeyPolicy?.rawValue),
                 .optionalText(route.identityFile), .optionalText(route.identityKey), .optionalText(route.forwarding?.rawValue),
                 .optionalFlag(route.record), .optionalText(route.upstreamAuth?.rawValue), .optionalText(route.certificatePrincipal),
                 .optionalInteger(route.certificateLifetime), .text(Timestamp.format(route.createdAt)),
                 .text(Timestamp.format(route.updatedAt))] + Self.accessValues(route.access) + [.optionalInteger(route.matchPriority)])
            guard let stored = try self.route(for: route.login) else { throw .database("route vanished after insert") }
            return stored
        }
    }

    public func update(login: String, with changes: RouteChanges) throws(RouteStoreError) -> Route {
        guard !changes.isEmpty else { throw .nothingToChange }
        return try database.transaction { () throws(RouteStoreError) in
            guard var route = try self.route(for: login) else { throw .routeNotFound(login) }
            let original = route
            if let host = changes.upstreamHost { route.upstreamHost = host }
            if let port = changes.upstreamPort { route.upstreamPort = port }
            if let user = changes.upstreamUser { route.upstreamUser = user }
            if let enabled = changes.enabled { route.enabled = enabled }
            if let policy = changes.hostKeyPolicy { route.hostKeyPolicy = policy }
            if let identity = changes.identityFile { route.identityFile = identity }
            if let key = changes.identityKey { route.identityKey = key }
            if let forwarding = changes.forwarding { route.forwarding = forwarding }
            if let record = changes.record { route.record = record }
            if let auth = changes.upstreamAuth { route.upstreamAuth = auth }
            if let principal = changes.certificatePrincipal { route.certificatePrincipal = principal }
            if let lifetime = changes.certificateLifetime { route.certificateLifetime = lifetime }
            route.access = changes.access.applied(to: route.access)
            if let priority = changes.matchPriority { route.matchPriority = priority }
            if let fingerprint = changes.hostKeyFingerprint {
                route.hostKeyFingerprint = fingerprint
            } else if route.upstreamHost != original.upstreamHost || route.upstreamPort != original.upstreamPort {
                route.hostKeyFingerprint = nil
            }
            route.updatedAt = Date()
            route = try validated(route)
            try database.query(
                """
                UPDATE routes SET upstream_host = ?, upstream_port = ?, upstream_user = ?, enabled = ?,
                                  host_key_fingerprint = ?, host_key_policy = ?, identity_file = ?, identity_key = ?,
                                  forwarding = ?, record = ?, upstream_auth = ?, certificate_principal = ?,
                                  certificate_lifetime = ?, updated_at = ?, allow_from = ?, schedule = ?, valid_from = ?,
                                  valid_until = ?, max_sessions = ?, allowed_channels = ?, schedule_ends_sessions = ?,
                                  match_priority = ?
                WHERE login = ?
                """,
                [.text(route.upstreamHost), .integer(route.upstreamPort), .optionalText(route.upstreamUser),
                 .integer(route.enabled ? 1 : 0), .optionalText(route.hostKeyFingerprint),
                 .optionalText(route.hostKeyPolicy?.rawValue), .optionalText(route.identityFile), .optionalText(route.identityKey),
                 .optionalText(route.forwarding?.rawValue), .optionalFlag(route.record), .optionalText(route.upstreamAuth?.rawValue),
                 .optionalText(route.certificatePrincipal), .optionalInteger(route.certificateLifetime),
                 .text(Timestamp.format(route.updatedAt))] + Self.accessValues(route.access)
                    + [.optionalInteger(route.matchPriority), .text(login)])
            guard let stored = try self.route(for: login) else { throw .database("route vanished after update") }
            return stored
        }
    }

    public func pinHostKeyIfUnpinned(login: String, fingerprint: String) throws(RouteStoreError) -> Bool {
        let fingerprint = try RouteValidation.fingerprint(fingerprint)
        return try database.transaction { () throws(RouteStoreError) in
            try database.query(
                "UPDATE routes SET host_key_fingerprint = ?, updated_at = ? WHERE login = ? AND host_key_fingerprint IS NULL",
                [.text(fingerprint), .text(Timestamp.format(Date())), .text(login)]) > 0
        }
    }

    public func remove(login: String) throws(RouteStoreError) {
        try database.transaction { () throws(RouteStoreError) in
            if try database.query("DELETE FROM routes WHERE login = ?", [.text(login)]) == 0 { throw .routeNotFound(login) }
        }
    }

    public func addKeys(_ keys: [ClientKey], to login: String) throws(RouteStoreError) {
        for key in keys { _ = try RouteValidation.fingerprint(key.fingerprint) }
        try database.transaction { () throws(RouteStoreError) in
            guard try self.route(for: login) != nil else { throw .routeNotFound(login) }
            for key in keys {
                if try isKeyListed(key.fingerprint, for: login) { throw .keyExists(login: login, fingerprint: key.fingerprint) }
                try database.query(
                    """
                    INSERT INTO route_keys (login, key_type, key_base64, fingerprint, comment, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [.text(login), .text(key.keyType), .text(key.keyBase64), .text(key.fingerprint), .text(key.comment),
                     .text(Timestamp.format(key.createdAt))])
            }
        }
    }

    public func keys(for login: String) throws(RouteStoreError) -> [ClientKey] {
        var keys: [ClientKey] = []
        try database.query(
            """
            SELECT login, key_type, key_base64, fingerprint, comment, created_at
            FROM route_keys WHERE login = ? ORDER BY created_at, fingerprint
            """, [.text(login)]
        ) { row in
            keys.append(ClientKey(
                login: row.text(0) ?? "", keyType: row.text(1) ?? "", keyBase64: row.text(2) ?? "",
                fingerprint: row.text(3) ?? "", comment: row.text(4) ?? "", createdAt: Timestamp.parse(row.text(5) ?? "")))
        }
        return keys
    }

    public func hasRoute(differingOnlyInCaseFrom login: String) throws(RouteStoreError) -> Bool {
        var found = false
        try database.query("SELECT 1 FROM routes WHERE lower(login) = lower(?) AND login <> ? LIMIT 1", [.text(login), .text(login)]) { _ in
            found = true
        }
        return found
    }

    public func isKeyListed(_ fingerprint: String, for login: String) throws(RouteStoreError) -> Bool {
        var found = false
        try database.query("SELECT 1 FROM route_keys WHERE login = ? AND fingerprint = ?", [.text(login), .text(fingerprint)]) { _ in
            found = true
        }
        return found
    }

    public func removeKey(_ fingerprint: String, from login: String) throws(RouteStoreError) {
        try database.transaction { () throws(RouteStoreError) in
            guard try self.route(for: login) != nil else { throw .routeNotFound(login) }
            let removed = try database.query(
                "DELETE FROM route_keys WHERE login = ? AND fingerprint = ?", [.text(login), .text(fingerprint)])
            if removed == 0 { throw .keyNotFound(login: login, fingerprint: fingerprint) }
        }
    }

    /// Why the catch-all route and pattern routes take no mapped identity.
    public static let catchAllIdentityRefusal = """
        the catch-all route and pattern routes cannot have a mapped identity: every login name they serve would log \
        in upstream with that one key; key logins on them use the client's forwarded agent (ssh -A)
        """

    private func validated(_ route: Route) throws(RouteStoreError) -> Route {
        var route = route
        route.login = try RouteValidation.routeLogin(route.login)
        route.upstreamHost = try RouteValidation.host(route.upstreamHost)
        route.upstreamPort = try RouteValidation.port(route.upstreamPort)
        if let source = route.patternSource {
            let pattern = try RoutePattern(source)
            if let template = route.upstreamUser { try pattern.validateTemplate(template) }
            let priority = route.matchPriority ?? 0
            guard (0...1_000_000).contains(priority) else { throw .invalidPolicy("--priority is from 0 to 1000000 (got \(priority))") }
        } else {
            route.upstreamUser = try route.upstreamUser.map { name throws(RouteStoreError) in try RouteValidation.upstreamUser(name) }
            guard route.matchPriority == nil else { throw .invalidPolicy("--priority is for pattern routes (--match)") }
        }
        route.hostKeyFingerprint = try route.hostKeyFingerprint.map { text throws(RouteStoreError) in
            try RouteValidation.fingerprint(text)
        }
        if let identity = route.identityFile, !identity.hasPrefix("/") {
            throw .invalidIdentityFile("\(identity): give an absolute path")
        }
        if route.servesManyLogins && (route.identityFile != nil || route.identityKey != nil) {
            throw .invalidIdentityFile(Self.catchAllIdentityRefusal)
        }
        route.certificatePrincipal = try route.certificatePrincipal.map { name throws(RouteStoreError) in
            try RouteValidation.certificatePrincipal(name)
        }
        if let lifetime = route.certificateLifetime { _ = try RouteValidation.certificateLifetime(lifetime) }
        try RouteValidation.accessPolicy(route.access)
        switch route.upstreamAuth {
        case .key? where route.identityFile == nil && route.identityKey == nil:
            throw .invalidUpstreamAuth("`key` needs the route's own key: give --identity-file or run `switchboard route keygen \(route.login)` first")
        case .certificate? where route.servesManyLogins:
            throw .invalidUpstreamAuth("""
                the catch-all route and pattern routes cannot log in with certificates: every login name they serve would \
                get a certificate for that name; give each login its own route
                """)
        default: break
        }
        return route
    }

    private func fetch(where condition: String, _ bindings: [SQLValue]) throws(RouteStoreError) -> [Route] {
        var routes: [Route] = []
        try database.query(
            """
            SELECT login, upstream_host, upstream_port, upstream_user, enabled, created_at, updated_at,
                   host_key_fingerprint, host_key_policy, identity_file, forwarding, record, identity_key,
                   upstream_auth, certificate_principal, certificate_lifetime,
                   allow_from, schedule, valid_from, valid_until, max_sessions, allowed_channels, schedule_ends_sessions,
                   match_priority
            FROM routes WHERE \(condition) ORDER BY login
            """, bindings
        ) { row in
            routes.append(Route(
                login: row.text(0) ?? "", upstreamHost: row.text(1) ?? "", upstreamPort: row.integer(2),
                upstreamUser: row.text(3), enabled: row.integer(4) != 0,
                hostKeyFingerprint: row.text(7), hostKeyPolicy: row.text(8).flatMap(HostKeyPolicy.init(rawValue:)),
                identityFile: row.text(9), identityKey: row.text(12), forwarding: row.text(10).flatMap(ForwardingPolicy.init(rawValue:)),
                record: row.text(11).map { $0 == "1" }, upstreamAuth: row.text(13).flatMap(UpstreamAuthentication.init(rawValue:)),
                certificatePrincipal: row.text(14), certificateLifetime: row.optionalInteger(15),
                access: Self.access(row, from: 16), matchPriority: row.optionalInteger(23),
                createdAt: Timestamp.parse(row.text(5) ?? ""), updatedAt: Timestamp.parse(row.text(6) ?? "")))
        }
        return routes
    }

    /// The seven access columns, in the order the statements above name them.
    private static func accessValues(_ access: AccessPolicy) -> [SQLValue] {
        [
            access.allowFrom.isEmpty ? .null : .text(access.allowFrom.map(\.description).joined(separator: ",")),
            .optionalText(access.schedule?.description), .optionalText(access.validFrom.map(Timestamp.format)),
            .optionalText(access.validUntil.map(Timestamp.format)), .optionalInteger(access.maxSessions),
            .optionalText(access.allowedChannels.map(ChannelKind.text(of:))), .integer(access.scheduleEndsSessions ? 1 : 0),
        ]
    }

    /// The access rules read back from the seven columns starting at `first`. They were
    /// validated when written; a rule that no longer reads (edited by hand) closes the route
    /// (valid until the distant past) instead of turning itself off.
    private static func access(_ row: any SQLRow, from first: Int32) -> AccessPolicy {
        var policy = AccessPolicy()
        var unreadable = false
        if let text = row.text(first) {
            if let ranges = try? AccessPolicy.addressRanges(parsing: text), !ranges.isEmpty { policy.allowFrom = ranges } else { unreadable = true }
        }
        if let text = row.text(first + 1) {
            if let schedule = try? AccessSchedule(parsing: text) { policy.schedule = schedule } else { unreadable = true }
        }
        policy.validFrom = row.text(first + 2).map(Timestamp.parse)
        policy.validUntil = row.text(first + 3).map(Timestamp.parse)
        policy.maxSessions = row.optionalInteger(first + 4)
        if let text = row.text(first + 5) {
            if let kinds = try? ChannelKind.set(parsing: text) { policy.allowedChannels = kinds } else { unreadable = true }
        }
        policy.scheduleEndsSessions = row.optionalInteger(first + 6) == 1
        if unreadable { policy.validUntil = .distantPast }
        return policy
    }
}
