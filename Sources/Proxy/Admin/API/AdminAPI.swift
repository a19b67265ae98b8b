import Foundation
import Logging
import RouteStore
import Synchronization

/// What the admin API needs of the store: routes and keys, the session audit, the session
/// counts `explain` shows, tokens and the record of changes, and kill requests.
public typealias AdminAPIStore = RouteStore & SessionAudit & SessionCounting & AdminStore & ClusterStore

/// The sessions this node holds, as the admin API sees them: their live terminals and running
/// byte counts. `ProxyServer` provides it.
public protocol LiveSessionAccess: Sendable {
    /// Whether this node holds (relays) session `id`.
    func holdsSession(_ id: Int64) -> Bool
    /// Starts watching session `id`'s terminal, if this node holds it; use the watcher on the
    /// calling thread only.
    func watch(sessionID id: Int64, bufferLimit: Int) throws(ProxyError) -> SessionWatcher?
    /// The bytes session `id` has carried so far, if this node holds it.
    func liveBytes(sessionID id: Int64) -> (toUpstream: Int, toClient: Int)?
}

extension ProxyServer: LiveSessionAccess {}

/// The HTTP admin API (`/v1`, described by `/v1/openapi.json`) and the web console
/// (`/console/`), served by `serve --admin-listen`. Every `/v1` request but the description
/// needs a bearer token; a read-only token may only read. Routes and keys are checked by the
/// same code as the CLI's (`RouteForm`, the store), and every change is recorded with the
/// token's name in the same transaction (`AdminStore.recordingAdminChange`).
public final class AdminAPI: Sendable {
    /// Where the API runs and what it may use.
    public struct Context: Sendable {
        public let store: any AdminAPIStore
        public let live: any LiveSessionAccess
        /// This node's id, to tell sessions held elsewhere in a cluster apart.
        public let nodeID: String
        /// Where `keygen` writes route keys on a SQLite store.
        public let dataDirectory: DataDirectory
        /// Encrypts route keys kept in a shared database; nil on SQLite or when not configured.
        public let clusterSecret: ClusterSecret?
        public let sharedStore: Bool

        public init(
            store: any AdminAPIStore, live: any LiveSessionAccess, nodeID: String, dataDirectory: DataDirectory,
            clusterSecret: ClusterSecret?, sharedStore: Bool
        ) {
            self.store = store
            self.live = live
            self.nodeID = nodeID
            self.dataDirectory = dataDirectory
            self.clusterSecret = clusterSecret
            self.sharedStore = sharedStore
        }
    }

    /// Who is calling: the token's name (recorded with every change) and its rights.
    struct Caller: Sendable {
        let name: String
        let readOnly: Bool
        /// The token as the store keeps it; nil on the control socket, which changes nothing.
        var token: AdminToken? = nil
        /// The token's hash, to check again during a long stream; nil on the control socket.
        var tokenHash: String? = nil
    }

    let context: Context
    let logger: Logger
    /// Long answers (live streams, recording downloads) running now; at most `maximumStreams`,
    /// so they cannot take every one of the listener's connections. Counted inside the stream's
    /// body, which is the only code sure to run to its end.
    let streamsOpen = Atomic<Int>(0)
    static let maximumStreams = 32

    public init(context: Context, logger: Logger) {
        self.context = context
        self.logger = logger
    }

    var store: any AdminAPIStore { context.store }

    /// Answers one request; never throws: every refusal is a JSON error.
    public func handle(_ request: HTTPRequest) -> HTTPReply {
        let segments = request.pathSegments
        if segments.first != "v1" { return AdminConsole.shared.reply(to: request) }
        if segments == ["v1", "openapi.json"] {
            guard request.method == "GET" || request.method == "HEAD" else { return .response(AdminAPIError.methodNotAllowed(["GET"]).response) }
            return .response(HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: AdminOpenAPI.document))
        }
        let caller: Caller
        do {
            caller = try authenticate(request)
        } catch {
            return .response(logged(request, AdminAPIError.from(error), caller: nil))
        }
        do {
            let reply = try route(request, Array(segments.dropFirst()), caller: caller)
            switch reply {
            case .response(let response): log(request, status: response.status, caller: caller)
            case .stream(let head, _): log(request, status: head.status, caller: caller)
            }
            return reply
        } catch {
            return .response(logged(request, AdminAPIError.from(error), caller: caller))
        }
    }

    /// Answers the local control socket: only a live session's stream, only to this process's
    /// own user or root (the socket's mode already keeps others out).
    public func handleControl(_ request: HTTPRequest) -> HTTPReply {
        guard let uid = request.peerUID, uid == 0 || uid == geteuid() else {
            return .response(AdminAPIError(403, "forbidden", "only root or the proxy's own user may use the control socket").response)
        }
        let segments = request.pathSegments
        guard request.method == "GET", segments.count == 4, segments[0] == "v1", segments[1] == "sessions", segments[3] == "stream" else {
            return .response(AdminAPIError.notFound.response)
        }
        do {
            return try streamSession(try sessionID(segments[2]), caller: Caller(name: "local uid \(uid)", readOnly: true))
        } catch {
            return .response(AdminAPIError.from(error).response)
        }
    }

    /// The caller's token from `Authorization: Bearer …`, checked against the store's hashes.
    private func authenticate(_ request: HTTPRequest) throws -> Caller {
        guard let header = request.headers["authorization"] else { throw AdminAPIError.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw AdminAPIError.unauthorized }
        let secret = parts[1].trimmingCharacters(in: .whitespaces)
        let hash = AdminTokenSecret.hash(secret)
        guard secret.hasPrefix(AdminTokenSecret.prefix), secret.count < 200, let token = try store.activeAdminToken(tokenHash: hash)
        else { throw AdminAPIError.unknownToken }
        return Caller(name: token.name, readOnly: token.readOnly, token: token, tokenHash: hash)
    }

    /// Dispatches on the path below `/v1` and the method.
    private func route(_ request: HTTPRequest, _ path: [String], caller: Caller) throws -> HTTPReply {
        let method = request.method == "HEAD" ? "GET" : request.method
        func only(_ allowed: [String]) throws {
            guard allowed.contains(method) else { throw AdminAPIError.methodNotAllowed(allowed) }
            if method != "GET" && caller.readOnly { throw AdminAPIError.readOnly }
        }
        switch path.count {
        case 1 where path[0] == "whoami":
            try only(["GET"])
            return .response(.apiJSON(status: 200, Whoami(name: caller.name, readOnly: caller.readOnly)))
        case 1 where path[0] == "routes":
            try only(["GET", "POST"])
            return .response(method == "GET" ? try listRoutes() : try createRoute(request, caller: caller))
        case 2 where path[0] == "routes":
            try only(["GET", "PATCH", "DELETE"])
            switch method {
            case "GET": return .response(try showRoute(path[1]))
            case "PATCH": return .response(try changeRoute(path[1], request, caller: caller))
            default: return .response(try removeRoute(path[1], caller: caller))
            }
        case 3 where path[0] == "routes" && path[2] == "trust":
            try only(["POST"])
            return .response(try trustRoute(path[1], caller: caller))
        case 3 where path[0] == "routes" && path[2] == "keygen":
            try only(["POST"])
            return .response(try createRouteKey(path[1], caller: caller))
        case 3 where path[0] == "routes" && path[2] == "keys":
            try only(["GET", "POST"])
            return .response(method == "GET" ? try listKeys(path[1]) : try addKeys(path[1], request, caller: caller))
        case 4 where path[0] == "routes" && path[2] == "keys":
            try only(["DELETE"])
            return .response(try removeKey(path[3], from: path[1], caller: caller))
        case 1 where path[0] == "explain":
            try only(["GET"])
            return .response(try explain(request))
        case 1 where path[0] == "sessions":
            try only(["GET"])
            return .response(try listSessions(request))
        case 2 where path[0] == "sessions":
            try only(["GET", "DELETE"])
            let id = try sessionID(path[1])
            return .response(method == "GET" ? try showSession(id) : try endSession(id, caller: caller))
        case 3 where path[0] == "sessions" && path[2] == "stream":
            try only(["GET"])
            guard request.method == "GET" else { throw AdminAPIError.methodNotAllowed(["GET"]) }
            return try streamSession(try sessionID(path[1]), caller: caller)
        case 3 where path[0] == "sessions" && path[2] == "recording":
            try only(["GET"])
            guard request.method == "GET" else { throw AdminAPIError.methodNotAllowed(["GET"]) }
            return try recording(of: try sessionID(path[1]))
        case 1 where path[0] == "changes":
            try only(["GET"])
            let limit = try integerParameter(request, "limit", default: 100, range: 1...1000)
            return .response(.apiJSON(status: 200, ["changes": try store.adminChanges(limit: limit)]))
        default:
            throw AdminAPIError.notFound
        }
    }

    private struct Whoami: Encodable {
        let name: String
        let readOnly: Bool
    }

    /// Runs `change` and records it under the caller's name in the same transaction.
    func recorded<T>(_ caller: Caller, _ action: String, _ target: String, detail: String = "{}", _ change: () throws(RouteStoreError) -> T) throws -> T {
        guard let token = caller.token else { throw AdminAPIError.readOnly }
        let result = try store.recordingAdminChange(by: token, action: action, target: target, detail: detail, change)
        ProxyMetrics.adminChange(action: action)
        logger.notice("admin change", metadata: [
            "admin.token": "\(caller.name)", "admin.action": "\(action)", "admin.target": "\(target)",
        ])
        return result
    }

    func integerParameter(_ request: HTTPRequest, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.query[name] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw AdminAPIError.badRequest("parameter \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func sessionID(_ text: String) throws -> Int64 {
        guard let id = Int64(text), id > 0 else { throw AdminAPIError(404, "session-not-found", "no session with id \(quoted(text, limit: 60))") }
        return id
    }

    private func logged(_ request: HTTPRequest, _ error: AdminAPIError, caller: Caller?) -> HTTPResponse {
        log(request, status: error.status, caller: caller, code: error.code, detail: error.logDetail)
        return error.response
    }

    private func log(_ request: HTTPRequest, status: Int, caller: Caller?, code: String? = nil, detail: String? = nil) {
        ProxyMetrics.adminRequest(status: status)
        // The path is the client's text: at most 200 characters, no control characters.
        let path = String(String.UnicodeScalarView(request.path.unicodeScalars.prefix(200).filter { $0.value >= 0x20 && $0.value != 0x7F }))
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method.prefix(10))", "http.path": "\(path)", "http.status": "\(status)",
            "client.addr": "\(request.peer)", "admin.token": "\(caller?.name ?? "-")",
        ]
        if let code { metadata["error.code"] = "\(code)" }
        if let detail { metadata["error"] = "\(detail)" }
        logger.info("admin request", metadata: metadata)
    }
}

extension HTTPResponse {
    /// A JSON answer in the admin API's shape (snake_case keys, ISO 8601 dates).
    static func apiJSON<T: Encodable>(status: Int, _ value: T) -> HTTPResponse {
        let body = (try? AdminJSON.encode(value)) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(body))
    }
}
