import RouteStore

/// What a connection works with, handed in by the server: the routing table, the audit trail,
/// the per-source penalties, the shutdown notice, the upstream places for logins in progress
/// and the upstreams' recent answer times (shared by every connection), and the upstream
/// connector made from the settings in force when the connection started.
struct ConnectionServices {
    let routes: any RouteLookup
    let audit: any SessionAudit
    let connector: UpstreamConnector
    let penalties: SourcePenalties
    let shutdown: ShutdownNotice
    /// This connection's places in the server's admission counts.
    let admission: AdmissionTicket
    let upstreamStartups: UpstreamStartups
    /// How long upstreams recently took to refuse and to ask, for logins that reach none.
    let loginDecoy: LoginDecoy
    /// The sessions this node holds, for `sessions kill`.
    let liveSessions: LiveSessions
    /// This node's id in the store (the audit's `node_id`).
    let nodeID: String?
    /// Route keys kept in the shared store, opened with the cluster secret.
    let storedKeys: StoredRouteKeys?
    /// The signing CA, the trusted client CAs and the revocations.
    let certificateAuthorities: any CertificateLookup
    /// Makes upstream certificates (shared by every connection).
    let upstreamCertificates: UpstreamCertificates
    /// Running sessions per login, for `--max-sessions`.
    let sessionCounts: any SessionCounting
}
