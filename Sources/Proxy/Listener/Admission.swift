import Synchronization

/// Why a new connection is refused before any SSH work. The raw value is the `reason` label
/// of `switchboard_connections_rejected_total`.
enum AdmissionRefusal: String {
    case banned
    case maxConnections = "max-connections"
    case maxConnectionsPerSource = "max-connections-per-source"
    case untrustedProxy = "untrusted-proxy"
    case proxyProtocol = "proxy-protocol"
}

/// The door's rules, shared by every connection thread: connection limits (overall and per
/// client address), bans after repeated failed logins, and which peers may speak the PROXY
/// protocol. A refused connection costs no thread and no SSH state.
final class Admission: Sendable {
    let penalties: SourcePenalties
    private let trustedProxies: [AddressRange]
    private let connectionsPerSource = Mutex<[String: Int]>([:])
    /// Connections the process's descriptor limit can carry.
    let connectionCapacity: Int

    init(settings: ProxySettings, descriptorLimit: Int) {
        connectionCapacity = DescriptorLimit.connectionCapacity(descriptorLimit: descriptorLimit)
        trustedProxies = settings[.trustedProxies]
        penalties = SourcePenalties(settings: .init(
            limit: settings[.banAfter], window: .seconds(settings[.banWindow]), banDuration: .seconds(settings[.banTime])))
    }

    /// Why a TCP connection from `peer` must be refused at accept, if it must. Behind a load
    /// balancer the peer is the balancer, so the per-client checks wait for the PROXY header.
    func refusalAtAccept(of peer: SocketAddress, activeConnections: Int, settings: ProxySettings) -> AdmissionRefusal? {
        if activeConnections >= maximumConnections(settings: settings) { return .maxConnections }
        if settings[.proxyProtocol] {
            return trustedProxies.contains(where: { $0.contains(peer.host) }) ? nil : .untrustedProxy
        }
        return refusal(ofClient: peer.host, settings: settings)
    }

    /// `max_connections` as given, or, when it was left at its default, no more than the
    /// descriptor limit can carry.
    func maximumConnections(settings: ProxySettings) -> Int {
        settings.isSet(.maxConnections) ? settings[.maxConnections] : min(settings[.maxConnections], connectionCapacity)
    }

    /// Why connections from a client address must be refused, if they must.
    func refusal(ofClient host: String, settings: ProxySettings) -> AdmissionRefusal? {
        if penalties.isBanned(host) { return .banned }
        let limit = settings[.maxConnectionsPerSource]
        if limit > 0 && connectionsPerSource.withLock({ $0[host, default: 0] }) >= limit {
            return .maxConnectionsPerSource
        }
        return nil
    }

    /// Counts a served connection from `host` while `body` runs.
    func counting<T>(from host: String, _ body: () -> T) -> T {
        connectionsPerSource.withLock { $0[host, default: 0] += 1 }
        defer {
            connectionsPerSource.withLock { counts in
                counts[host, default: 1] -= 1
                if counts[host] == 0 { counts[host] = nil }
            }
        }
        return body()
    }
}
