import Foundation
import Logging
import RouteStore
import SSH
import Synchronization

/// The listening proxy: accepts TCP connections, admits or refuses them, and gives each
/// admitted one its own thread running a `ClientConnection`. A failing connection only ever
/// ends its own thread.
public final class ProxyServer: Sendable {
    /// The settings in force; a reload replaces the live ones, and each new connection takes
    /// the values current when it starts.
    private let liveSettings: Mutex<ProxySettings>
    private let routes: OutageTolerantRoutes
    private let audit: SpoolingAudit
    private let liveSessions = LiveSessions()
    private let storedKeys: StoredRouteKeys?
    /// Makes the certificates of upstream logins on certificate routes (keeps the CA key open).
    private let upstreamCertificates: UpstreamCertificates
    /// Counts running sessions per login (the store), for `--max-sessions`.
    private let sessionCounts: any SessionCounting
    /// This process in the store's node list, with its background duties.
    public let node: ClusterNode
    /// True from SIGTERM on: `/healthz` says so while the listener still accepts.
    private let drainAnnounced = Atomic<Bool>(false)
    /// Reported in `switchboard nodes`.
    public static let version = "0.15.0"
    private let server: SSHServer
    private let logger: Logger
    private let admission: Admission
    private let upstreamStartups = UpstreamStartups()
    private let loginDecoy = LoginDecoy()
    private let shutdown = ShutdownNotice()
    private let stopRequested = Atomic<Bool>(false)
    /// The listening socket while `run()` accepts (-1 otherwise), so `stopAccepting` can shut it.
    private let listeningSocket = Atomic<Int32>(-1)
    private let activeConnections = Atomic<Int>(0)
    private let connectionCounter = Atomic<Int>(0)

    /// Seconds a connection has to send its PROXY protocol header.
    static let proxyHeaderTimeout: TimeInterval = 5

    /// Loads (or on first start generates) the host keys and prepares the SSH server. `store`
    /// is read at every login and holds the audit; `shared` says that other nodes use it too
    /// (PostgreSQL): host keys must then exist already and match the ones the cluster registered.
    public init(
        settings: ProxySettings, store: some RouteLookup & CertificateLookup & SessionAudit & SessionCounting & ClusterStore, shared: Bool, logger: Logger
    ) throws(ProxyError) {
        liveSettings = Mutex(settings)
        self.logger = logger
        LiveSessions.installWakeHandler
        storedKeys = try ClusterSecret.load(file: settings[.clusterSecretFile]).map(StoredRouteKeys.init)
        routes = OutageTolerantRoutes(store: store, graceSeconds: settings[.databaseOutageGrace])
        upstreamCertificates = UpstreamCertificates(authorities: routes, storedKeys: storedKeys)
        sessionCounts = store
        try? settings.dataDirectory.create()
        audit = SpoolingAudit(store: store, directory: settings.dataDirectory.path, logger: logger)
        let descriptorLimit = DescriptorLimit.raiseToHardLimit()
        admission = Admission(settings: settings, descriptorLimit: descriptorLimit)
        logger.info("descriptor limit", metadata: [
            "limit": "\(descriptorLimit)", "max_connections": "\(admission.maximumConnections(settings: settings))",
        ])
        for path in settings.dataDirectory.tightenPermissions() {
            logger.warning("took group and other permissions away from a data file", metadata: ["path": "\(path)"])
        }
        let keys = shared
            ? try ProxyHostKeys.loadClusterKeys(in: settings.dataDirectory, registry: store)
            : try ProxyHostKeys.loadOrGenerate(in: settings.dataDirectory)
        node = ClusterNode(
            name: settings[.nodeName] ?? ProcessInfo.processInfo.hostName, store: store,
            lostAfter: Double(settings[.nodeLostAfter]), liveSessions: liveSessions, penalties: admission.penalties,
            spool: audit, logger: logger)
        // libssh copies every host key of the server into every session it accepts (an RSA key
        // in full; ed25519 is 64 bytes): a key no client needs costs memory per session.
        let offered = keys.filter { !settings[.noRSAHostKey] || $0.typeName == "ssh-ed25519" }
        for key in keys {
            logger.info(key.generated ? "generated host key" : "loaded host key", metadata: [
                "hostkey.type": "\(key.typeName)", "hostkey.fingerprint": "\(key.fingerprint)", "hostkey.path": "\(key.path)",
                "hostkey.offered": "\(offered.contains { $0.path == key.path })",
            ])
        }
        do {
            server = try SSHServer(hostKeyPaths: offered.map(\.path), version: settings[.serverVersion])
        } catch {
            throw ProxyError(.hostKeys, "cannot set up the SSH server: \(error)")
        }
    }

    /// The settings in force now.
    public var settings: ProxySettings { liveSettings.withLock { $0 } }

    /// SIGHUP: applies every changed setting that can change while running and names those
    /// that need a restart (see `ProxySettings.reloaded(with:)`).
    public func reload(_ new: ProxySettings) -> (applied: [String], needsRestart: [String]) {
        let result = liveSettings.withLock { current in
            let result = current.reloaded(with: new)
            current = result.settings
            return result
        }
        routes.setGrace(seconds: result.settings[.databaseOutageGrace])
        return (result.applied, result.needsRestart)
    }

    /// False once the server stops accepting (for health checks: a draining proxy is not ready).
    public var isAccepting: Bool { !stopRequested.load(ordering: .relaxed) }

    /// What `/healthz` reports: false from the moment a drain is announced.
    public var isHealthy: Bool { isAccepting && !drainAnnounced.load(ordering: .relaxed) }

    /// Starts reporting unhealthy (`/healthz` 503) while still accepting, so a load balancer's
    /// health checks send new clients elsewhere before the listener closes.
    public func announceDrain() {
        drainAnnounced.store(true, ordering: .relaxed)
        node.startDraining()
    }

    /// Number of client connections being served right now.
    public var connectionCount: Int { activeConnections.load(ordering: .relaxed) }

    // MARK: Live sessions (for the admin API)

    /// The audit ids of the sessions this node holds now, in ascending order.
    public var liveSessionIDs: [Int64] { liveSessions.auditIDs }

    /// True if this node holds the session with audit id `sessionID` now.
    public func holdsSession(_ sessionID: Int64) -> Bool { liveSessions.holds(auditID: sessionID) }

    /// The bytes the session with audit id `sessionID` has carried each way so far (session
    /// channels, as its audit record counts them); nil if this node does not hold it.
    public func liveBytes(sessionID: Int64) -> (toUpstream: Int, toClient: Int)? {
        liveSessions.liveBytes(auditID: sessionID)
    }

    /// Starts watching the terminal of the session with audit id `sessionID`, read-only; nil if
    /// this node does not hold it. The watcher is dropped (`WatchEnd.tooSlow`) once more than
    /// `bufferLimit` bytes wait for it. Throws only when the process is out of descriptors.
    public func watch(sessionID: Int64, bufferLimit: Int = SessionWatcher.defaultBufferLimit) throws(ProxyError) -> SessionWatcher? {
        try liveSessions.watch(auditID: sessionID)?.attach(bufferLimit: bufferLimit)
    }

    /// Listens and serves until `stopAccepting()` is called. Throws if the address cannot be bound.
    public func run() throws(ProxyError) {
        let address = settings[.listen]
        let listener: TCPListener
        do {
            listener = try TCPListener(host: address.host, port: address.port)
        } catch {
            throw ProxyError(.network, "\(error)")
        }
        listeningSocket.store(listener.fd, ordering: .relaxed)
        defer { listeningSocket.store(-1, ordering: .relaxed) }
        // Listening on every address says nothing to an operator: the host name does.
        let local = listener.localAddress
        let reachableAt = ["0.0.0.0", "::"].contains(local.host) ? "\(ProcessInfo.processInfo.hostName):\(local.port)" : "\(local)"
        do {
            try node.join(address: reachableAt, version: Self.version)
        } catch {
            throw ProxyError(.configuration, "cannot register this node in the store: \(error)")
        }
        logger.info("listening", metadata: [
            "listen.addr": "\(listener.localAddress)", "libssh": "\(SSHLibrary.version)",
            "proxy_protocol": "\(settings[.proxyProtocol] ? "required" : "off")",
            "upstream.ciphers": "\(UpstreamCiphers.preferred.prefix { $0 != "," })-first",
        ])
        var outOfDescriptors = false
        while !stopRequested.load(ordering: .relaxed) {
            let fd: Int32
            let peer: SocketAddress
            switch listener.accept(timeoutMilliseconds: 500) {
            case .connection(let accepted, let from):
                (fd, peer) = (accepted, from)
            case .nothing:
                continue
            case .outOfDescriptors:
                if !outOfDescriptors {
                    logger.warning("out of file descriptors: new connections wait", metadata: ["reason": "descriptors"])
                }
                outOfDescriptors = true
                continue
            }
            outOfDescriptors = false
            let settings = self.settings
            // Refused before any thread or SSH state exists: a refused connection costs nothing.
            if let refusal = admission.refusalAtAccept(of: peer, activeConnections: connectionCount, settings: settings) {
                refuse(fd, refusal, logger: logger, metadata: ["client.addr": "\(peer)"])
                continue
            }
            // Without the PROXY protocol the peer is the client: admit it here, before a thread
            // exists. Behind a balancer that waits for the header, on the connection's thread.
            var ticket: AdmissionTicket?
            if !settings[.proxyProtocol] {
                switch admission.admit(peer.host, settings: settings) {
                case .success(let admitted):
                    ticket = admitted
                case .failure(let refusal):
                    refuse(fd, refusal, logger: logger, metadata: ["client.addr": "\(peer)"])
                    continue
                }
            }
            enableKeepalive(on: fd, idleSeconds: settings[.tcpKeepalive])
            startConnection(fd: fd, peer: peer, settings: settings, ticket: ticket)
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

    private func startConnection(fd: Int32, peer: SocketAddress, settings: ProxySettings, ticket: AdmissionTicket?) {
        let number = connectionCounter.add(1, ordering: .relaxed).newValue
        var connectionLogger = logger
        connectionLogger[metadataKey: "session.id"] = "\(number)"
        connectionLogger[metadataKey: "client.addr"] = "\(peer)"
        activeConnections.add(1, ordering: .relaxed)
        // The ticket moves to the new thread, which alone uses it from here on.
        nonisolated(unsafe) let ticket = ticket
        let thread = Thread { [self, connectionLogger] in
            defer { activeConnections.subtract(1, ordering: .relaxed) }
            serveConnection(fd: fd, peer: peer, settings: settings, ticket: ticket, logger: connectionLogger)
        }
        thread.name = "switchboard-conn-\(number)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Everything one connection's thread does, from the PROXY header to the last byte.
    private func serveConnection(fd: Int32, peer: SocketAddress, settings: ProxySettings, ticket: AdmissionTicket?, logger: Logger) {
        var logger = logger
        guard let client = identifyClient(fd: fd, peer: peer, settings: settings, logger: logger) else {
            close(fd)
            return
        }
        var ticket = ticket
        if ticket == nil {
            logger[metadataKey: "client.addr"] = "\(client)"
            logger[metadataKey: "proxy.addr"] = "\(peer)"
            switch admission.admit(client.host, settings: settings) {
            case .success(let admitted):
                ticket = admitted
            case .failure(let refusal):
                refuse(fd, refusal, logger: logger)
                return
            }
        }
        guard let ticket else { return }
        ProxyMetrics.connectionAccepted()
        logger.debug("connection accepted")
        do {
            let session = try server.accept(fd: fd)
            let services = ConnectionServices(
                routes: routes, audit: audit, connector: UpstreamConnector(settings: settings),
                penalties: admission.penalties, shutdown: shutdown, admission: ticket, upstreamStartups: upstreamStartups,
                loginDecoy: loginDecoy, liveSessions: liveSessions, nodeID: node.id, storedKeys: storedKeys,
                certificateAuthorities: routes, upstreamCertificates: upstreamCertificates, sessionCounts: sessionCounts)
            try ClientConnection(client: session, address: client, services: services, settings: settings, logger: logger).run()
        } catch {
            logger.warning("cannot start session", metadata: ["error": "\(error)"])
            ProxyMetrics.connectionClosed(reason: .error)
        }
    }

    /// Closes a refused connection's socket, logs why and counts it.
    private func refuse(_ fd: Int32, _ refusal: AdmissionRefusal, logger: Logger, metadata: Logger.Metadata = [:]) {
        close(fd)
        logger.info("connection refused", metadata: metadata.merging(["reason": "\(refusal.rawValue)"]) { $1 })
        ProxyMetrics.connectionRejected(reason: refusal)
    }

    /// The client's real address: from the PROXY header when one is required, else the peer.
    private func identifyClient(fd: Int32, peer: SocketAddress, settings: ProxySettings, logger: Logger) -> HostPort? {
        guard settings[.proxyProtocol] else { return HostPort(host: peer.host, port: peer.port) }
        do {
            let header = try ProxyProtocol.readHeader(from: fd, deadline: Date().addingTimeInterval(Self.proxyHeaderTimeout))
            return HostPort(host: header.clientHost ?? peer.host, port: header.clientPort ?? peer.port)
        } catch {
            logger.info("connection refused", metadata: ["reason": "\(AdmissionRefusal.proxyProtocol.rawValue)", "error": "\(error)"])
            ProxyMetrics.connectionRejected(reason: .proxyProtocol)
            return nil
        }
    }
}
