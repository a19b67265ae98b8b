import RouteStore

/// What a connection works with that outlives it, handed in by the server: the routing table,
/// the audit trail, the upstream connector, the per-source penalties and the shutdown notice.
struct ConnectionServices {
    let routes: any RouteLookup
    let audit: any SessionAudit
    let connector: UpstreamConnector
    let penalties: SourcePenalties
    let shutdown: ShutdownNotice
}
