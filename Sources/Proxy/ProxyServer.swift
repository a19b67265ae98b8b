import Foundation
import Logging
import RouteStore
import SSH
import Synchronization

/// The listening proxy: accepts TCP connections and gives each one its own thread running a
/// `ProxyConnection`. A failing connection only ever ends its own thread.
public final class ProxyServer: Sendable {
    private let configuration: ProxyConfiguration
    private let store: any RouteStore
    private let audit: any SessionAudit
    private let server: SSHServer
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    private let shutdown = ShutdownNotice()
    private let connectionsPerSource = Mutex<[String: Int]>([:])
    private let activeConnections = Atomic<Int>(0)
    private let connectionCounter = Atomic<Int>(0)
    private let penalties: SourcePenalties

    /// Loads (or on first start generates) the host key and prepares the SSH server.
    /// `store` is read at every login; every session that logs in is recorded in `audit`.
    public init(configuration: ProxyConfiguration, store: any RouteStore, audit: any SessionAudit, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.audit = audit
        self.logger = logger
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

    /// Number of client connections being served right now.
    public var connectionCount: Int { activeConnections.load(ordering: .relaxed) }

    /// Listens and serves until `stop()` is called. Throws if the address cannot be bound.
    public func run() throws {
        let address = try UpstreamAddress(parsing: configuration.listen, defaultPort: 2222, allowedPorts: 0...65535)
        let listener = try TCPListener(host: address.host, port: address.port)
        logger.info("listening", metadata: ["listen.addr": "\(listener.localAddress)", "libssh": "\(SSHLibrary.version)"])
        while !stopRequested.load(ordering: .relaxed) {
            guard let (fd, peer) = listener.accept(timeoutMilliseconds: 500) else { continue }
            // Refused before any thread or SSH state exists: a refused connection costs nothing.
            if let reason = refusal(for: peer) {
                close(fd)
                logger.info("connection refused", metadata: ["client.addr": "\(peer)", "reason": "\(reason)"])
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

    /// Why a new connection from `peer` must be refused, if it must.
    private func refusal(for peer: SocketAddress) -> String? {
        if penalties.isBanned(peer.host) { return "banned" }
        if connectionCount >= configuration.maxConnections { return "max-connections" }
        let limit = configuration.maxConnectionsPerSource
        if limit > 0 && connectionsPerSource.withLock({ $0[peer.host, default: 0] }) >= limit {
            return "max-connections-per-source"
        }
        return nil
    }

    private func startConnection(fd: Int32, peer: SocketAddress) {
        let number = connectionCounter.add(1, ordering: .relaxed).newValue
        var connectionLogger = logger
        connectionLogger[metadataKey: "session.id"] = "\(number)"
        connectionLogger[metadataKey: "client.addr"] = "\(peer)"
        let clientHost = peer.host
        let clientPort = peer.port
        activeConnections.add(1, ordering: .relaxed)
        connectionsPerSource.withLock { $0[clientHost, default: 0] += 1 }
        let thread = Thread { [self, connectionLogger] in
            defer {
                connectionsPerSource.withLock { counts in
                    counts[clientHost, default: 1] -= 1
                    if counts[clientHost] == 0 { counts[clientHost] = nil }
                }
                activeConnections.subtract(1, ordering: .relaxed)
            }
            connectionLogger.debug("connection accepted")
            do {
                let session = try server.accept(fd: fd)
                ProxyConnection(
                    client: session, clientHost: clientHost, clientPort: clientPort, store: store, audit: audit,
                    configuration: configuration, penalties: penalties, shutdown: shutdown, logger: connectionLogger
                ).run()
            } catch {
                connectionLogger.warning("cannot start session", metadata: ["error": "\(error)"])
            }
            connectionLogger.debug("connection closed")
        }
        thread.name = "switchboard-conn-\(number)"
        thread.stackSize = 1 << 20
        thread.start()
    }
}
