import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import Proxy
import RouteStore
import Synchronization

/// `switchboard serve`: run the proxy.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the SSH proxy.")

    @Option(help: ArgumentHelp("Address to listen on; IPv6 in brackets.", valueName: "HOST:PORT"))
    var listen = "0.0.0.0:2222"
    @Option(help: ArgumentHelp("Seconds a client has for key exchange and login.", valueName: "SECONDS"))
    var loginGraceTime = 30
    @Option(help: ArgumentHelp("Failed login attempts allowed per connection.", valueName: "N"))
    var maxAuthTries = 6
    @Option(help: ArgumentHelp("Seconds allowed to reach an upstream and finish its SSH handshake.", valueName: "SECONDS"))
    var upstreamConnectTimeout = 10
    @Option(help: ArgumentHelp("On SIGTERM/SIGINT, seconds running sessions may go on before they are closed.", valueName: "SECONDS"))
    var drainTimeout = 30
    @Option(help: ArgumentHelp("Close a session after this many seconds without channel data (0: never).", valueName: "SECONDS"))
    var idleTimeout = 0
    @Option(help: ArgumentHelp("Connections served at once; more are refused.", valueName: "N"))
    var maxConnections = 4096
    @Option(help: ArgumentHelp("Connections served at once from one address (0: no limit).", valueName: "N"))
    var maxConnectionsPerSource = 256
    @Option(help: ArgumentHelp("TCP keepalive toward clients and upstreams: idle seconds before probing (0: off).", valueName: "SECONDS"))
    var tcpKeepalive = 60
    @Option(help: ArgumentHelp("Serve /metrics (Prometheus) and /healthz over HTTP on this address (default: off).", valueName: "HOST:PORT"))
    var metricsListen: String?
    @Flag(help: "Require a PROXY protocol v1/v2 header (from --trusted-proxies) on every connection.")
    var proxyProtocol = false
    @Option(help: ArgumentHelp("Comma-separated addresses or CIDR ranges of the load balancers.", valueName: "CIDR,..."))
    var trustedProxies: String?
    @Option(help: ArgumentHelp("Failed logins from one address that ban it (0: never ban).", valueName: "N"))
    var banAfter = 10
    @Option(help: ArgumentHelp("Seconds within which --ban-after failures must happen.", valueName: "SECONDS"))
    var banWindow = 60
    @Option(help: ArgumentHelp("Seconds a banned address's new connections are refused.", valueName: "SECONDS"))
    var banTime = 300
    @Option(help: ArgumentHelp("Upstream host key policy for routes without their own: strict, accept-new or off.", valueName: "POLICY"))
    var hostKeyPolicy: HostKeyPolicy = .acceptNew
    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    var logLevel = "info"
    @OptionGroup var dataDirectory: DataDirectoryOption

    func validate() throws {
        guard loginGraceTime > 0 else { throw ValidationError("--login-grace-time must be at least 1") }
        guard maxAuthTries > 0 else { throw ValidationError("--max-auth-tries must be at least 1") }
        guard drainTimeout >= 0, idleTimeout >= 0, maxConnections > 0, maxConnectionsPerSource >= 0, tcpKeepalive >= 0 else {
            throw ValidationError("--drain-timeout, --idle-timeout, --max-connections-per-source and --tcp-keepalive must be 0 or more, --max-connections at least 1")
        }
        guard banAfter >= 0, banWindow > 0, banTime > 0 else {
            throw ValidationError("--ban-after must be 0 or more, --ban-window and --ban-time at least 1")
        }
        guard upstreamConnectTimeout > 0 else { throw ValidationError("--upstream-connect-timeout must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        do {
            _ = try UpstreamAddress(parsing: listen, defaultPort: 2222, allowedPorts: 0...65535)
        } catch {
            throw ValidationError("--listen: \(error)")
        }
    }

    func run() throws {
        // A client vanishing mid-write must cost only its own connection, never the process.
        signal(SIGPIPE, SIG_IGN)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")

        var configuration = ProxyConfiguration(dataDirectory: dataDirectory.directory)
        configuration.listen = listen
        configuration.loginGraceSeconds = loginGraceTime
        configuration.maxAuthTries = maxAuthTries
        configuration.upstreamConnectTimeoutSeconds = upstreamConnectTimeout
        configuration.defaultHostKeyPolicy = hostKeyPolicy
        configuration.idleTimeoutSeconds = idleTimeout
        configuration.maxConnections = maxConnections
        configuration.maxConnectionsPerSource = maxConnectionsPerSource
        configuration.tcpKeepaliveSeconds = tcpKeepalive
        configuration.proxyProtocol = proxyProtocol
        configuration.trustedProxies = trustedProxies.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        configuration.banAfter = banAfter
        configuration.banWindowSeconds = banWindow
        configuration.banTimeSeconds = banTime

        try runReportingErrors {
            try configuration.validate()
            let store = try SQLiteRouteStore(directory: configuration.dataDirectory)
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            ProxyMetrics.registerFamilies()
            let server = try ProxyServer(configuration: configuration, store: store, audit: store, logger: logger)
            let metricsServer = try metricsListen.map { address in
                try MetricsServer(listen: address, metrics: { registry.emitToBuffer() }, healthy: { server.isAccepting }, logger: logger)
            }
            metricsServer?.start()
            defer { metricsServer?.stop() }
            let signalCount = Atomic<Int>(0)
            let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { signal in
                if signalCount.add(1, ordering: .relaxed).newValue > 1 {
                    logger.warning("second signal: exiting now", metadata: ["signal": "\(signal)"])
                    _exit(0)
                }
                logger.info("received signal: no new connections, draining", metadata: [
                    "signal": "\(signal)", "drain.seconds": "\(drainTimeout)", "sessions": "\(server.connectionCount)",
                ])
                server.stopAccepting()
            }
            defer { withExtendedLifetime(signals) {} }
            try server.run()
            if !server.waitForConnections(timeout: .seconds(drainTimeout)) {
                logger.info("drain timeout: closing the remaining sessions", metadata: ["sessions": "\(server.connectionCount)"])
                server.closeAllConnections()
                _ = server.waitForConnections(timeout: .seconds(5))
            }
            logger.info("stopped")
        }
    }
}

/// Calls `handler` on a background queue when one of `signals` arrives.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }
}
