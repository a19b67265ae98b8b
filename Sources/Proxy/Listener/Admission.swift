import RouteStore
import Synchronization

/// Why a new connection is refused before any SSH work. The raw value is the `reason` label
/// of `switchboard_connections_rejected_total`.
enum AdmissionRefusal: String, Error {
    case banned
    case maxConnections = "max-connections"
    case maxConnectionsPerSource = "max-connections-per-source"
    case maxUnauthenticated = "max-unauthenticated"
    case maxUnauthenticatedPerSource = "max-unauthenticated-per-source"
    case untrustedProxy = "untrusted-proxy"
    case proxyProtocol = "proxy-protocol"
}

/// The door's rules, shared by every connection thread: connection limits (overall and per
/// client address), limits on connections that have not logged in yet (overall and per source,
/// like OpenSSH's MaxStartups), bans after repeated failed logins, and which peers may speak
/// the PROXY protocol. Checking a limit and counting the connection happen in one step.
final class Admission: Sendable {
    let penalties: SourcePenalties
    private let trustedProxies: [AddressRange]
    /// Connections the process's descriptor limit can carry.
    let connectionCapacity: Int

    private struct Counts {
        /// Connections being served, per client address.
        var perAddress: [String: Int] = [:]
        /// Connections not logged in yet, in all and per source (an address, or an IPv6 /64).
        var unauthenticated = 0
        var unauthenticatedPerSource: [String: Int] = [:]
    }

    private let counts = Mutex(Counts())

    init(settings: ProxySettings, descriptorLimit: Int) {
        connectionCapacity = DescriptorLimit.connectionCapacity(descriptorLimit: descriptorLimit)
        trustedProxies = settings[.trustedProxies]
        penalties = SourcePenalties(settings: .init(
            limit: settings[.banAfter], window: .seconds(settings[.banWindow]), banDuration: .seconds(settings[.banTime])))
    }

    /// Why a TCP connection from `peer` must be refused at accept, before anything else, if it
    /// must: the overall limit, or a balancer that is not trusted. The client's own checks are
    /// `admit`'s.
    func refusalAtAccept(of peer: SocketAddress, activeConnections: Int, settings: ProxySettings) -> AdmissionRefusal? {
        if activeConnections >= maximumConnections(settings: settings) { return .maxConnections }
        if settings[.proxyProtocol] && !trustedProxies.contains(where: { $0.contains(peer.host) }) { return .untrustedProxy }
        return nil
    }

    /// `max_connections` as given, or, when it was left at its default, no more than the
    /// descriptor limit can carry.
    func maximumConnections(settings: ProxySettings) -> Int {
        settings.isSet(.maxConnections) ? settings[.maxConnections] : min(settings[.maxConnections], connectionCapacity)
    }

    /// Admits a connection from the client address `host`: checks its ban and the per-address
    /// and pre-login limits and counts it, in one step, so two connections cannot both take the
    /// last place. The ticket gives the places back when it goes away.
    func admit(_ host: String, settings: ProxySettings) -> Result<AdmissionTicket, AdmissionRefusal> {
        if penalties.isBanned(host) { return .failure(.banned) }
        let source = SourcePenalties.source(of: host)
        let refusal: AdmissionRefusal? = counts.withLock { counts in
            let perAddress = settings[.maxConnectionsPerSource]
            if perAddress > 0 && counts.perAddress[host, default: 0] >= perAddress { return .maxConnectionsPerSource }
            if counts.unauthenticated >= settings[.maxUnauthenticated] { return .maxUnauthenticated }
            let perSource = settings[.maxUnauthenticatedPerSource]
            if perSource > 0 && counts.unauthenticatedPerSource[source, default: 0] >= perSource { return .maxUnauthenticatedPerSource }
            counts.perAddress[host, default: 0] += 1
            counts.unauthenticated += 1
            counts.unauthenticatedPerSource[source, default: 0] += 1
            return nil
        }
        if let refusal { return .failure(refusal) }
        return .success(AdmissionTicket(admission: self, host: host, source: source))
    }

    fileprivate func leaveUnauthenticated(source: String) {
        counts.withLock { counts in
            counts.unauthenticated -= 1
            Self.decrement(&counts.unauthenticatedPerSource, source)
        }
    }

    fileprivate func leave(host: String) {
        counts.withLock { Self.decrement(&$0.perAddress, host) }
    }

    private static func decrement(_ table: inout [String: Int], _ key: String) {
        table[key, default: 1] -= 1
        if table[key] == 0 { table[key] = nil }
    }
}

/// One admitted connection's places in the `Admission` counts. It leaves the pre-login counts
/// when the client has logged in, and everything when it goes away. Owned by the connection's
/// thread alone.
final class AdmissionTicket {
    private let admission: Admission
    private let host: String
    private let source: String
    private var unauthenticated = true

    fileprivate init(admission: Admission, host: String, source: String) {
        self.admission = admission
        self.host = host
        self.source = source
    }

    /// The client has logged in: it no longer counts as unauthenticated.
    func loggedIn() {
        guard unauthenticated else { return }
        unauthenticated = false
        admission.leaveUnauthenticated(source: source)
    }

    deinit {
        if unauthenticated { admission.leaveUnauthenticated(source: source) }
        admission.leave(host: host)
    }
}
