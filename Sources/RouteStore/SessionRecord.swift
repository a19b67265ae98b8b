import Foundation

/// One audited client session.
public struct SessionRecord: Sendable, Equatable, Codable {
    /// The audit id, assigned when the session starts.
    public var id: Int64
    public var login: String
    public var clientAddress: String
    public var clientPort: Int
    public var upstreamHost: String
    public var upstreamPort: Int
    public var upstreamUser: String
    /// "password", "publickey", "keyboard-interactive", …
    public var authMethod: String
    public var startedAt: Date
    /// `nil` while the session runs.
    public var endedAt: Date?
    public var bytesToUpstream: Int
    public var bytesToClient: Int
    /// The last exit status the upstream reported ("0", "42", "signal TERM"), if any.
    public var exitStatus: String?
    /// Why the session ended: "client-closed", "upstream-closed", "idle-timeout", "shutdown", …
    public var endReason: String?
    /// The asciicast file of the session's terminal, if it was recorded.
    public var recordingPath: String?
    /// The node that holds (or held) the session; `nil` in rows written before clusters.
    public var nodeID: String?
    /// That node's name, for people.
    public var nodeName: String?

    public init(
        id: Int64 = 0, login: String, clientAddress: String, clientPort: Int, upstreamHost: String, upstreamPort: Int,
        upstreamUser: String, authMethod: String, startedAt: Date = Date(), endedAt: Date? = nil,
        bytesToUpstream: Int = 0, bytesToClient: Int = 0, exitStatus: String? = nil, endReason: String? = nil,
        recordingPath: String? = nil, nodeID: String? = nil, nodeName: String? = nil
    ) {
        self.nodeID = nodeID
        self.nodeName = nodeName
        self.recordingPath = recordingPath
        self.id = id
        self.login = login
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.upstreamUser = upstreamUser
        self.authMethod = authMethod
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.bytesToUpstream = bytesToUpstream
        self.bytesToClient = bytesToClient
        self.exitStatus = exitStatus
        self.endReason = endReason
    }
}

/// How a session ended, written when it does.
public struct SessionEnd: Sendable, Equatable, Codable {
    public var bytesToUpstream: Int
    public var bytesToClient: Int
    public var exitStatus: String?
    public var reason: String

    public init(bytesToUpstream: Int, bytesToClient: Int, exitStatus: String?, reason: String) {
        self.bytesToUpstream = bytesToUpstream
        self.bytesToClient = bytesToClient
        self.exitStatus = exitStatus
        self.reason = reason
    }
}

/// Which sessions `sessions(matching:)` returns.
public struct SessionFilter: Sendable {
    public var activeOnly = false
    public var since: Date?
    public var login: String?
    /// Just the session with this audit id.
    public var id: Int64?
    /// At most this many, the newest.
    public var limit: Int?

    public init(activeOnly: Bool = false, since: Date? = nil, login: String? = nil, id: Int64? = nil, limit: Int? = nil) {
        self.activeOnly = activeOnly
        self.since = since
        self.login = login
        self.id = id
        self.limit = limit
    }
}

/// The session audit trail. The proxy writes it; `switchboard sessions` reads it.
public protocol SessionAudit: Sendable {
    /// Records a session that just logged in and returns its audit id.
    func recordStart(_ session: SessionRecord) throws(RouteStoreError) -> Int64
    /// Notes the recording file of session `id`.
    func recordRecording(id: Int64, path: String) throws(RouteStoreError)
    /// Records how session `id` ended.
    func recordEnd(id: Int64, _ end: SessionEnd) throws(RouteStoreError)
    /// Sessions matching `filter`, newest first.
    func sessions(matching filter: SessionFilter) throws(RouteStoreError) -> [SessionRecord]
}

/// How many sessions of a login are running, for `--max-sessions` (across every node that
/// shares the store).
public protocol SessionCounting: Sendable {
    /// Running sessions of `login` whose audit id is below `id` (all of them when `id` is nil):
    /// of several logins that start at once, the earlier ones count against the later ones.
    func runningSessions(of login: String, startedBefore id: Int64?) throws(RouteStoreError) -> Int
}
