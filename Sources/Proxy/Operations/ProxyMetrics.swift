import Metrics
import Synchronization

/// Every metric the proxy reports, through swift-metrics (the executable picks the backend:
/// Prometheus). Names start with `switchboard_`; labels are small fixed sets (reasons,
/// methods, directions), never a user name or an address.
public enum ProxyMetrics {
    /// Creates the families that have no event yet, so a scrape shows them from the start.
    public static func registerFamilies() {
        Counter(label: "switchboard_connections_accepted_total").increment(by: 0)
        Counter(label: "switchboard_upstream_connect_attempts_total").increment(by: 0)
        Gauge(label: "switchboard_sessions_active").record(0)
        Gauge(label: "switchboard_database_up").record(1)
        Gauge(label: "switchboard_audit_spooled").record(0)
        Gauge(label: "switchboard_admin_streams").record(0)
        for direction in ["to_upstream", "to_client"] {
            Counter(label: "switchboard_bytes_relayed_total", dimensions: [("direction", direction)]).increment(by: 0)
        }
    }

    /// An admin API request answered with `status` (200, 401, 403, …).
    static func adminRequest(status: Int) {
        Counter(label: "switchboard_admin_requests_total", dimensions: [("status", String(status))]).increment()
    }

    /// A change made through the admin API; `action`: route.create, route.update, …
    static func adminChange(action: String) {
        Counter(label: "switchboard_admin_changes_total", dimensions: [("action", action)]).increment()
    }

    /// Long admin answers (live streams, recording downloads) open now.
    static func adminStreams(_ count: Int) { Gauge(label: "switchboard_admin_streams").record(count) }

    /// A live watch ended; `reason`: session-ended, too-slow, reader-gone, token-revoked.
    static func watchEnded(reason: String) {
        Counter(label: "switchboard_watches_ended_total", dimensions: [("reason", reason)]).increment()
    }

    static func connectionAccepted() {
        Counter(label: "switchboard_connections_accepted_total").increment()
    }

    static func connectionRejected(reason: AdmissionRefusal) {
        Counter(label: "switchboard_connections_rejected_total", dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// Every admitted connection ends once, for one of a fixed set of reasons.
    static func connectionClosed(reason: ConnectionEndReason) {
        Counter(label: "switchboard_connections_closed_total", dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// `reason`: the SSH error code (key-exchange, timeout, …).
    static func handshakeFailed(reason: String) {
        Counter(label: "switchboard_handshakes_failed_total", dimensions: [("reason", reason)]).increment()
    }

    /// `method`: password, publickey, keyboard-interactive; `result`: accepted, rejected,
    /// upstream-unavailable, store-unavailable.
    static func authentication(method: String, result: String) {
        Counter(label: "switchboard_authentications_total", dimensions: [("method", method), ("result", result)]).increment()
    }

    static func sessionStarted() { Gauge(label: "switchboard_sessions_active").record(activeSessions.add(1)) }
    static func sessionEnded() { Gauge(label: "switchboard_sessions_active").record(activeSessions.add(-1)) }

    static func upstreamConnectAttempt() {
        Counter(label: "switchboard_upstream_connect_attempts_total").increment()
    }

    /// `reason`: connection-refused, timeout, unreachable, name-resolution, host-key-mismatch,
    /// host-key-not-pinned, handshake-failed, authentication, upstream-busy.
    static func upstreamConnectFailed(reason: String) {
        Counter(label: "switchboard_upstream_connect_failures_total", dimensions: [("reason", reason)]).increment()
    }

    /// Time from the start of the TCP connect to the end of the upstream's key exchange.
    static func upstreamConnected(after duration: Duration) {
        Timer(label: "switchboard_upstream_connect_duration_seconds", preferredDisplayUnit: .seconds).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// `reason`: create-error, write-error, size-limit, total-size-limit, audit-unavailable.
    static func recordingFailed(reason: String) {
        Counter(label: "switchboard_recording_failures_total", dimensions: [("reason", reason)]).increment()
    }

    static func bytesRelayed(toUpstream: Int, toClient: Int) {
        if toUpstream > 0 { Counter(label: "switchboard_bytes_relayed_total", dimensions: [("direction", "to_upstream")]).increment(by: toUpstream) }
        if toClient > 0 { Counter(label: "switchboard_bytes_relayed_total", dimensions: [("direction", "to_client")]).increment(by: toClient) }
    }

    /// 1 while the store (database) answers, 0 while it does not.
    static func databaseUp(_ up: Bool) {
        Gauge(label: "switchboard_database_up").record(up ? 1 : 0)
    }

    /// Sessions of lost nodes this node closed in the audit.
    static func lostNodeSessionsClosed(_ count: Int) {
        Counter(label: "switchboard_lost_node_sessions_closed_total").increment(by: count)
    }

    /// Logins served from route data cached before the database became unreachable.
    static func loginFromCachedRoutes() {
        Counter(label: "switchboard_logins_from_cached_routes_total").increment()
    }

    /// Audit writes kept on local disk because the database did not answer, and still waiting.
    static func auditSpooled(_ pending: Int) {
        Gauge(label: "switchboard_audit_spooled").record(pending)
    }

    /// Upstream certificates: `result` is issued or no-ca (the route needs a CA the proxy lacks).
    static func certificateIssued(result: String) {
        Counter(label: "switchboard_upstream_certificates_total", dimensions: [("result", result)]).increment()
    }

    /// Client certificates checked at login: `result` is accepted or the refusal's reason code
    /// (certificate-expired, certificate-untrusted-ca, …; a fixed set, see `ClientCertificates`).
    static func clientCertificate(result: String) {
        Counter(label: "switchboard_client_certificates_total", dimensions: [("result", result)]).increment()
    }

    /// Logins and requests an access rule refused: `rule` is access-source, access-schedule,
    /// access-expired, access-not-yet-valid, access-max-sessions or access-channel.
    static func accessRefused(rule: String) {
        Counter(label: "switchboard_access_refusals_total", dimensions: [("rule", rule)]).increment()
    }

    /// The gauge's value lives here: swift-metrics gauges record values, they do not count.
    private static let activeSessions = SessionCount()
}

/// A thread-safe running count for the active sessions gauge.
private final class SessionCount: Sendable {
    private let value = Mutex<Int>(0)

    func add(_ delta: Int) -> Int {
        value.withLock { count in
            count += delta
            return count
        }
    }
}
