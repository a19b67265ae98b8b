import Foundation
import RouteStore

/// `/v1/routes…` and `/v1/explain`: the same checks and messages as `switchboard route` and
/// `switchboard key`, through `RouteForm`, `RouteUpkeep` and the store.
extension AdminAPI {
    /// The JSON fields of `POST /v1/routes`, as `route add` names its options.
    static let newRouteFields = Set([
        "login", "upstream", "match", "priority", "upstream_user", "host_key", "host_key_policy", "identity_file", "forwarding",
        "record", "upstream_auth", "principal", "cert_ttl",
    ]).union(accessFields)

    /// The JSON fields of `PATCH /v1/routes/{login}`, as `route set` names its options.
    static let routeChangeFields = Set([
        "host", "port", "upstream_user", "enabled", "host_key", "forget_host_key", "host_key_policy", "identity_file",
        "clear_identity_file", "forwarding", "record", "upstream_auth", "principal", "cert_ttl", "priority",
    ]).union(accessFields)

    static let accessFields: Set<String> = [
        "allow_from", "schedule", "schedule_ends_sessions", "valid_from", "valid_until", "max_sessions", "allow",
    ]

    func listRoutes() throws -> HTTPResponse {
        .apiJSON(status: 200, ["routes": try store.allRoutes().map(RouteRecord.init)])
    }

    func showRoute(_ login: String) throws -> HTTPResponse {
        guard let route = try store.route(for: login) else { throw RouteStoreError.routeNotFound(login) }
        return .apiJSON(status: 200, RouteRecord(route))
    }

    func createRoute(_ request: HTTPRequest, caller: Caller) throws -> HTTPResponse {
        let body = try JSONBody(request.body, allowed: Self.newRouteFields)
        guard let upstream = try body.text("upstream") else { throw AdminAPIError.badRequest("field upstream (HOST[:PORT]) is required") }
        try checkRemoteIdentityFile(try body.text("identity_file"))
        let form = RouteForm(
            login: try body.text("login"), upstream: upstream, match: try body.text("match"), priority: try body.integer("priority"),
            upstreamUser: try body.text("upstream_user"), hostKey: try body.text("host_key"),
            hostKeyPolicy: try body.text("host_key_policy"), identityFile: try body.text("identity_file"),
            forwarding: try body.text("forwarding"), record: try body.text("record"), upstreamAuth: try body.text("upstream_auth"),
            principal: try body.text("principal"), certTTL: try body.integer("cert_ttl"), access: try Self.accessForm(body))
        let route = try form.route()
        let added = try recorded(caller, "route.create", route.login, detail: body.recordText) { () throws(RouteStoreError) in
            try store.add(route)
        }
        return .apiJSON(status: 201, RouteRecord(added))
    }

    func changeRoute(_ login: String, _ request: HTTPRequest, caller: Caller) throws -> HTTPResponse {
        let body = try JSONBody(request.body, allowed: Self.routeChangeFields)
        try checkRemoteIdentityFile(try body.text("identity_file"))
        let form = RouteChangeForm(
            host: try body.text("host"), port: try body.textOrNumber("port"), upstreamUser: try body.text("upstream_user"),
            enabled: try body.flag("enabled"), hostKey: try body.text("host_key"), forgetHostKey: try body.flag("forget_host_key") ?? false,
            hostKeyPolicy: try body.text("host_key_policy"), identityFile: try body.text("identity_file"),
            clearIdentityFile: try body.flag("clear_identity_file") ?? false, forwarding: try body.text("forwarding"),
            record: try body.text("record"), upstreamAuth: try body.text("upstream_auth"), principal: try body.text("principal"),
            certTTL: try body.integer("cert_ttl"), priority: try body.integer("priority"), access: try Self.accessForm(body))
        let changes = try form.changes()
        let route = try recorded(caller, "route.update", login, detail: body.recordText) { () throws(RouteStoreError) in
            try store.update(login: login, with: changes)
        }
        return .apiJSON(status: 200, RouteRecord(route))
    }

    func removeRoute(_ login: String, caller: Caller) throws -> HTTPResponse {
        try recorded(caller, "route.delete", login) { () throws(RouteStoreError) in try store.remove(login: login) }
        return HTTPResponse(status: 204, headers: [], body: [])
    }

    func trustRoute(_ login: String, caller: Caller) throws -> HTTPResponse {
        let pinned = try RouteUpkeep.pinHostKey(of: login, in: store, timeoutSeconds: 10) { changes in
            try recorded(caller, "route.trust", login, detail: "{}") { () throws(RouteStoreError) in
                try store.update(login: login, with: changes)
            }
        }
        return .apiJSON(status: 200, pinned)
    }

    func createRouteKey(_ login: String, caller: Caller) throws -> HTTPResponse {
        if context.sharedStore && context.clusterSecret == nil {
            throw AdminAPIError(
                409, "no-cluster-secret",
                "a route key in a shared database is encrypted with the cluster secret, and this node has none (cluster_secret_file)")
        }
        let key = try RouteUpkeep.createKey(
            for: login, in: store, secret: context.sharedStore ? context.clusterSecret : nil, dataDirectory: context.dataDirectory
        ) { changes in
            try recorded(caller, "route.keygen", login) { () throws(RouteStoreError) in try store.update(login: login, with: changes) }
        }
        return .apiJSON(status: 200, key)
    }

    func listKeys(_ login: String) throws -> HTTPResponse {
        guard try store.route(for: login) != nil else { throw RouteStoreError.routeNotFound(login) }
        return .apiJSON(status: 200, ["keys": try store.keys(for: login).map(KeyRecord.init)])
    }

    func addKeys(_ login: String, _ request: HTTPRequest, caller: Caller) throws -> HTTPResponse {
        let body = try JSONBody(request.body, allowed: ["authorized_keys"])
        guard let text = try body.text("authorized_keys") else {
            throw AdminAPIError.badRequest("field authorized_keys (authorized_keys lines) is required")
        }
        let keys = try Credentials.clientKeys(fromAuthorizedKeys: text, for: login)
        try recorded(caller, "key.add", login, detail: Self.recordText(["fingerprints": keys.map(\.fingerprint)])) { () throws(RouteStoreError) in try store.addKeys(keys, to: login) }
        return .apiJSON(status: 201, ["keys": keys.map(KeyRecord.init)])
    }

    func removeKey(_ fingerprint: String, from login: String, caller: Caller) throws -> HTTPResponse {
        try recorded(caller, "key.delete", login, detail: Self.recordText(["fingerprint": fingerprint])) { () throws(RouteStoreError) in
            try store.removeKey(fingerprint, from: login)
        }
        return HTTPResponse(status: 204, headers: [], body: [])
    }

    func explain(_ request: HTTPRequest) throws -> HTTPResponse {
        guard let login = request.query["login"] else { throw AdminAPIError.badRequest("parameter login is required") }
        let from = request.query["from"].flatMap { $0.isEmpty ? nil : $0 }
        try RouteExplanation.checkSource(from)
        let at = request.query["at"].flatMap { $0.isEmpty ? nil : $0 }
        return .apiJSON(status: 200, try RouteExplanation.explain(login: login, from: from, at: try RouteExplanation.moment(at), store: store))
    }

    /// Over the API, a route may log in upstream only with a key in the data directory's
    /// `route-keys` folder (what `keygen` makes): a token must not point a route at any private
    /// key the proxy can read, nor learn which files exist. Checked before the file is opened.
    private func checkRemoteIdentityFile(_ path: String?) throws {
        guard let path else { return }
        let folder = URL(fileURLWithPath: context.dataDirectory.path + "/route-keys").standardizedFileURL.resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        guard resolved.hasPrefix(folder + "/") else {
            throw AdminAPIError(
                400, "invalid-identity-file",
                "over the admin API, identity_file must name a key in the data directory's route-keys folder (POST /v1/routes/{login}/keygen makes one)")
        }
    }

    private static func accessForm(_ body: JSONBody) throws -> AccessForm {
        AccessForm(
            allowFrom: try body.text("allow_from"), schedule: try body.text("schedule"),
            scheduleEndsSessions: try body.text("schedule_ends_sessions"), validFrom: try body.text("valid_from"),
            validUntil: try body.text("valid_until"), maxSessions: try body.textOrNumber("max_sessions"), allow: try body.text("allow"))
    }

    /// A change's detail for the record, as compact JSON.
    private static func recordText(_ value: some Encodable) -> String {
        String(decoding: (try? AdminJSON.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
