import Foundation
import Logging
import RouteStore
import SSH
import Synchronization

/// The listening proxy: accepts TCP connections and gives each one its own thread running a
/// `ProxyConnection`. A failing connection only ever ends its own thread.
public final class ProxyServer: Sendable {
    /// The settings in force; a reload replaces the live ones, and each new connection takes
    /// the values current when it starts.
    private let liveConfiguration: Mutex<ProxyConfiguration>
    private var configuration: ProxyConfiguration { liveConfiguration.withLock { $0 } }
    private let store: any RouteStore
    private let audit: any SessionAudit
    private let server: SSHServer
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    /// The listening socket while `run()` accepts (-1 otherwise), so `stopAccepting` can shut it.
    private let listeningSocket = Atomic<Int32>(-1)
    private let shutdown = ShutdownNotice()
    private let connectionsPerSource = Mutex<[String: Int]>([:])
    private let trustedProxies: [AddressRange]
    private let activeConnections = Atomic<Int>(0)
    private let connectionCounter = Atomic<Int>(0)
    private let penalties: SourcePenalties

    /// Loads (or on first start generates) the host key and prepares the SSH server.
    /// `store` is read at every login; every session that logs in is recorded in `audit`.
    public init(configuration: ProxyConfiguration, store: any RouteStore, audit: any SessionAudit, logger: Logger) throws {
        self.liveConfiguration = Mutex(configuration)
        self.store = store
        self.audit = audit
        self.logger = logger
        trustedProxies = try configuration.parsedTrustedProxies()
        penalties = SourcePenalties(settings: .init(
            limit: configuration.banAfter, window: .seconds(configuration.banWindowSeconds),
            banDuration: .seconds(configuration.banTimeSeconds)))
        let keys = try ProxyHostKeys.loadOrGenerate(in: configuration.dataDirectory)
        for key in keys {
            logger.info(key.generated ? "generated host key" : "loaded host key", metadata: [
                "hostkey.type": "\(key.typeName)", "hostkey.fingerprint": "\(key.fingerprint)", "hostkey.path": "\(key.path)",
            ])
        }
        server = try SSHServer(hostKeyPaths: keys.map(\.path))
    }

    /// Applies the settings that can change while running (timeouts, limits, host key policy)
    /// and returns the names of those that changed. Address, data directory, PROXY protocol and
    /// ban settings need a restart; `ignored` lists those that differ.
    public func reload(_ new: ProxyConfiguration) -> (applied: [String], ignored: [String]) {
        liveConfiguration.withLock { current in
            var applied: [String] = []
            func update<T: Equatable>(_ name: String, _ keyPath: WritableKeyPath<ProxyConfiguration, T>) {
                guard current[keyPath: keyPath] != new[keyPath: keyPath] else { return }
                current[keyPath: keyPath] = new[keyPath: keyPath]
                applied.append(name)
            }
            update("login_grace_time", \.loginGraceSeconds)
            update("max_auth_tries", \.maxAuthTries)
            update("upstream_connect_timeout", \.upstreamConnectTimeoutSeconds)
            update("host_key_policy", \.defaultHostKeyPolicy)
            update("idle_timeout", \.idleTimeoutSeconds)
            update("max_connections", \.maxConnections)
            update("max_connections_per_source", \.maxConnectionsPerSource)
            update("tcp_keepalive", \.tcpKeepaliveSeconds)
            var ignored: [String] = []
            if current.listen != new.listen { ignored.append("listen") }
            if current.dataDirectory.path != new.dataDirectory.path { ignored.append("data_dir") }
            if current.proxyProtocol != new.proxyProtocol || current.trustedProxies != new.trustedProxies {
                ignored.append("proxy_protocol/trusted_proxies")
            }
            if (current.banAfter, current.banWindowSeconds, current.banTimeSeconds) != (new.banAfter, new.banWindowSeconds, new.banTimeSeconds) {
                ignored.append("ban_after/ban_window/ban_time")
            }
            return (applied, ignored)
        }
    }

    /// False once the server stops accepting (for health checks: a draining proxy is not ready).
    public var isAccepting: Bool { !stopRequested.load(ordering: .relaxed) }

    /// Number of client connections being served right now.
    public var connectionCount: Int { activeConnections.load(ordering: .relaxed) }

    /// Listens and serves until `stop()` is called. Throws if the address cannot be bound.
    public func run() throws {
        let address = try UpstreamAddress(parsing: configuration.listen, defaultPort: 2222, allowedPorts: 0...65535)
        let listener = try TCPListener(host: address.host, port: address.port)
        listeningSocket.store(listener.fd, ordering: .relaxed)
        defer { listeningSocket.store(-1, ordering: .relaxed) }
        logger.info("listening", metadata: [
            "listen.addr": "\(listener.localAddress)", "libssh": "\(SSHLibrary.version)",
            "proxy_protocol": "\(configuration.proxyProtocol ? "required" : "off")",
            "upstream.ciphers": "\(UpstreamCiphers.preferred.prefix { $0 != "," })-first",
        ])
        while !stopRequested.load(ordering: .relaxed) {
            guard let (fd, peer) = listener.accept(timeoutMilliseconds: 500) else { continue }
            // Refused before any thread or SSH state exists: a refused connection costs nothing.
            if let reason = refusalAtAccept(peer) {
                close(fd)
                logger.info("connection refused", metadata: ["client.addr": "\(peer)", "reason": "\(reason)"])
                ProxyMetrics.connectionRejected(reason: reason)
                continue
            }
            enableKeepalive(on: fd, idleSeconds: configuration.tcpKeepaliveSeconds)
            startConnection(fd: fd, peer: peer)
        }
        logger.info("stopped accepting connections")
    }

    /// Asks `run()` to stop accepting (and to close the listening socket); running sessions are
    /// not interrupted.
    public func stopAccepting() {
        stopRequested.store(true, ordering: .relaxed)
        // Shutting the socket refuses new connections at once and wakes the accept loop; the
        // loop closes it when it returns.
        let fd = listeningSocket.load(ordering: .relaxed)
        if fd >= 0 { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Waits until no connection is left or `timeout` passes; true if none is left.
    public func waitForConnections(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while connectionCount > 0 {
            guard ContinuousClock.now < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return true
    }

    /// Tells every connection to end now: each client gets a notice and a disconnect message.
    public func closeAllConnections() {
        shutdown.request()
    }

    /// Why a new TCP connection must be refused at once, if it must. Behind a load balancer
    /// the peer is the balancer, so the per-client checks wait for the PROXY header.
    private func refusalAtAccept(_ peer: SocketAddress) -> String? {
        if connectionCount >= configuration.maxConnections { return "max-connections" }
        if configuration.proxyProtocol {
            return trustedProxies.contains(where: { $0.contains(peer.host) }) ? nil : "untrusted-proxy"
        }
        return refusal(forClient: peer.host)
    }

    /// Why connections from a client address must be refused, if they must.
    private func refusal(forClient host: String) -> String? {
        if penalties.isBanned(host) { return "banned" }
        let limit = configuration.maxConnectionsPerSource
        if limit > 0 && connectionsPerSource.withLock({ $0[host, default: 0] }) >= limit {
            return "max-connections-per-source"
        }
        return nil
    }

    /// The client's real address: from the PROXY header when one is required, else the peer.
    private func identifyClient(fd: Int32, peer: SocketAddress, logger: Logger) -> (host: String, port: Int)? {
        guard configuration.proxyProtocol else { return (peer.host, peer.port) }
        do {
            let header = try ProxyProtocol.readHeader(from: fd, deadline: Date().addingTimeInterval(Self.proxyHeaderTimeout))
            return (header.clientHost ?? peer.host, header.clientPort ?? peer.port)
        } catch {
            logger.info("connection refused", metadata: ["reason": "proxy-protocol", "error": "\(error)"])
            ProxyMetrics.connectionRejected(reason: "proxy-protocol")
            return nil
        }
    }

    /// Seconds a connection has to send its PROXY protocol header.
    static let proxyHeaderTimeout: TimeInterval = 5

    private func startConnection(fd: Int32, peer: SocketAddress) {
        let number = connectionCounter.add(1, ordering: .relaxed).newValue
        var connectionLogger = logger
        connectionLogger[metadataKey: "session.id"] = "\(number)"
        connectionLogger[metadataKey: "client.addr"] = "\(peer)"
        activeConnections.add(1, ordering: .relaxed)
        let thread = Thread { [self, connectionLogger] in
            defer { activeConnections.subtract(1, ordering: .relaxed) }
            serveConnection(fd: fd, peer: peer, logger: connectionLogger)
        }
        thread.name = "switchboard-conn-\(number)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Everything one connection's thread does, from the PROXY header to the last byte.
    private func serveConnection(fd: Int32, peer: SocketAddress, logger: Logger) {
        var logger = logger
        guard let client = identifyClient(fd: fd, peer: peer, logger: logger) else {
            close(fd)
            return
        }
        if configuration.proxyProtocol {
            logger[metadataKey: "client.addr"] = "\(UpstreamAddress(host: client.host, port: client.port))"
            logger[metadataKey: "proxy.addr"] = "\(peer)"
            if let reason = refusal(forClient: client.host) {
                close(fd)
                logger.info("connection refused", metadata: ["reason": "\(reason)"])
                ProxyMetrics.connectionRejected(reason: reason)
                return
            }
        }
        ProxyMetrics.connectionAccepted()
        connectionsPerSource.withLock { $0[client.host, default: 0] += 1 }
        defer {
            connectionsPerSource.withLock { counts in
                counts[client.host, default: 1] -= 1
                if counts[client.host] == 0 { counts[client.host] = nil }
            }
        }
        logger.debug("connection accepted")
        do {
            let session = try server.accept(fd: fd)
            ProxyConnection(
                client: session, clientHost: client.host, clientPort: client.port, store: store, audit: audit,
                configuration: configuration, penalties: penalties, shutdown: shutdown, logger: logger
            ).run()
        } catch {
            logger.warning("cannot start session", metadata: ["error": "\(error)"])
        }
        logger.debug("connection closed")
    }
}
