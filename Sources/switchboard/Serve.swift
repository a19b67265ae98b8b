import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import Proxy
import RouteStore
import Synchronization
import Yams

/// `switchboard serve`: run the proxy.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the SSH proxy.",
        discussion: """
            Every option can also be set in the YAML file given with --config (same names in \
            snake_case, e.g. login_grace_time: 30) or in the environment (SWITCHBOARD_LOGIN_GRACE_TIME). \
            Flags override the environment, which overrides the file. SIGHUP re-reads the file and \
            applies what can change while running.
            """)

    @Option(help: ArgumentHelp("YAML configuration file.", valueName: "FILE")) var config: String?
    @Flag(help: "Check the configuration (file, environment, flags) and exit: 0 if it is good.") var checkConfig = false
    @Option(help: ArgumentHelp("Address to listen on; IPv6 in brackets. Default 0.0.0.0:2222.", valueName: "HOST:PORT"))
    var listen: String?
    @Option(help: ArgumentHelp("Seconds a client has for key exchange and login. Default 30.", valueName: "SECONDS"))
    var loginGraceTime: Int?
    @Option(help: ArgumentHelp("Failed login attempts allowed per connection. Default 6.", valueName: "N"))
    var maxAuthTries: Int?
    @Option(help: ArgumentHelp("Seconds to reach an upstream and finish its SSH handshake. Default 10.", valueName: "SECONDS"))
    var upstreamConnectTimeout: Int?
    @Option(help: ArgumentHelp("On SIGTERM/SIGINT, seconds sessions may go on before they are closed. Default 30.", valueName: "SECONDS"))
    var drainTimeout: Int?
    @Option(help: ArgumentHelp("Close a session after this many seconds without channel data. Default 0 (never).", valueName: "SECONDS"))
    var idleTimeout: Int?
    @Option(help: ArgumentHelp("Connections served at once; more are refused. Default 4096.", valueName: "N"))
    var maxConnections: Int?
    @Option(help: ArgumentHelp("Connections served at once from one address. Default 256 (0: no limit).", valueName: "N"))
    var maxConnectionsPerSource: Int?
    @Option(help: ArgumentHelp("TCP keepalive toward clients and upstreams: idle seconds before probing. Default 60 (0: off).", valueName: "SECONDS"))
    var tcpKeepalive: Int?
    @Option(help: ArgumentHelp("Serve /metrics (Prometheus) and /healthz over HTTP here. Default off.", valueName: "HOST:PORT"))
    var metricsListen: String?
    @Flag(help: "Require a PROXY protocol v1/v2 header (from --trusted-proxies) on every connection.")
    var proxyProtocol = false
    @Option(help: ArgumentHelp("Comma-separated addresses or CIDR ranges of the load balancers.", valueName: "CIDR,..."))
    var trustedProxies: String?
    @Option(help: ArgumentHelp("Failed logins from one address that ban it. Default 10 (0: never).", valueName: "N"))
    var banAfter: Int?
    @Option(help: ArgumentHelp("Seconds within which --ban-after failures must happen. Default 60.", valueName: "SECONDS"))
    var banWindow: Int?
    @Option(help: ArgumentHelp("Seconds a banned address's connections are refused. Default 300.", valueName: "SECONDS"))
    var banTime: Int?
    @Option(help: ArgumentHelp("Upstream host key policy for routes without their own: strict, accept-new (default) or off.", valueName: "POLICY"))
    var hostKeyPolicy: HostKeyPolicy?
    @Option(help: ArgumentHelp("Record terminal sessions as asciicast files in this directory. Default off.", valueName: "DIR"))
    var recordDir: String?
    @Flag(help: "Also record what users type (passwords typed at prompts included).")
    var recordInput = false
    @Option(help: ArgumentHelp("trace, debug, info (default), notice, warning, error or critical.", valueName: "LEVEL"))
    var logLevel: String?
    @Option(help: ArgumentHelp("text (default) or json.", valueName: "FORMAT"))
    var logFormat: String?
    @OptionGroup var dataDirectory: DataDirectoryOption

    /// The flags that were given, as the top settings layer.
    private var flagSettings: ServeSettings {
        ServeSettings(
            listen: listen, dataDir: dataDirectory.path, loginGraceTime: loginGraceTime, maxAuthTries: maxAuthTries,
            upstreamConnectTimeout: upstreamConnectTimeout, drainTimeout: drainTimeout, idleTimeout: idleTimeout,
            maxConnections: maxConnections, maxConnectionsPerSource: maxConnectionsPerSource, tcpKeepalive: tcpKeepalive,
            metricsListen: metricsListen, proxyProtocol: proxyProtocol ? true : nil,
            trustedProxies: trustedProxies.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
            banAfter: banAfter, banWindow: banWindow, banTime: banTime, hostKeyPolicy: hostKeyPolicy, logLevel: logLevel,
            logFormat: logFormat, recordDir: recordDir, recordInput: recordInput ? true : nil)
    }

    /// File, then environment, then flags.
    private func mergedSettings() throws -> ServeSettings {
        let file = try config.map(ServeSettings.load(file:)) ?? ServeSettings()
        let environment = try ServeSettings.fromEnvironment(ProcessInfo.processInfo.environment)
        return ServeSettings.defaults.overridden(by: file).overridden(by: environment).overridden(by: flagSettings)
    }

    func run() throws {
        let settings: ServeSettings
        let configuration: ProxyConfiguration
        do {
            settings = try mergedSettings()
            configuration = try settings.proxyConfiguration()
        } catch {
            throw CommandFailure(description: "configuration: \(error)")
        }
        if checkConfig {
            print("# configuration is valid\(config.map { " (\($0))" } ?? ""); the settings in effect:")
            print((try? YAMLEncoder().encode(settings)) ?? "")
            return
        }
        // A client vanishing mid-write must cost only its own connection, never the process.
        signal(SIGPIPE, SIG_IGN)
        let format = LogOutput.Format(rawValue: settings.logFormat ?? "text") ?? .text
        LogOutput.currentLevel.store(LogOutput.levelIndex(Logger.Level(rawValue: settings.logLevel ?? "info") ?? .info), ordering: .relaxed)
        LoggingSystem.bootstrap { label in LogOutput(label: label, format: format) }
        let logger = Logger(label: "switchboard")
        let drainSeconds = settings.drainTimeout ?? 30

        try runReportingErrors {
            let store = try SQLiteRouteStore(directory: configuration.dataDirectory)
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            ProxyMetrics.registerFamilies()
            let server = try ProxyServer(configuration: configuration, store: store, audit: store, logger: logger)
            let metricsServer = try settings.metricsListen.map { address in
                try MetricsServer(listen: address, metrics: { registry.emitToBuffer() }, healthy: { server.isAccepting }, logger: logger)
            }
            metricsServer?.start()
            defer { metricsServer?.stop() }
            let signalCount = Atomic<Int>(0)
            let stopSignals = SignalWatcher(signals: [SIGINT, SIGTERM]) { signal in
                if signalCount.add(1, ordering: .relaxed).newValue > 1 {
                    logger.warning("second signal: exiting now", metadata: ["signal": "\(signal)"])
                    _exit(0)
                }
                logger.info("received signal: no new connections, draining", metadata: [
                    "signal": "\(signal)", "drain.seconds": "\(drainSeconds)", "sessions": "\(server.connectionCount)",
                ])
                server.stopAccepting()
            }
            let reloadSignal = SignalWatcher(signals: [SIGHUP]) { _ in reload(server, logger: logger) }
            defer { withExtendedLifetime((stopSignals, reloadSignal)) {} }
            try server.run()
            if !server.waitForConnections(timeout: .seconds(drainSeconds)) {
                logger.info("drain timeout: closing the remaining sessions", metadata: ["sessions": "\(server.connectionCount)"])
                server.closeAllConnections()
                _ = server.waitForConnections(timeout: .seconds(5))
            }
            logger.info("stopped")
        }
    }

    /// SIGHUP: re-reads the file (flags and environment still win), applies what can change
    /// while running, and logs what it applied and what needs a restart.
    private func reload(_ server: ProxyServer, logger: Logger) {
        do {
            let settings = try mergedSettings()
            let (applied, ignored) = server.reload(try settings.proxyConfiguration())
            var changed = applied
            let level = Logger.Level(rawValue: settings.logLevel ?? "info") ?? .info
            if LogOutput.levelIndex(level) != LogOutput.currentLevel.load(ordering: .relaxed) {
                LogOutput.currentLevel.store(LogOutput.levelIndex(level), ordering: .relaxed)
                changed.append("log_level")
            }
            logger.notice("configuration reloaded", metadata: [
                "applied": "\(changed.isEmpty ? "nothing changed" : changed.joined(separator: ","))",
                "needs_restart": "\(ignored.isEmpty ? "none" : ignored.joined(separator: ","))",
            ])
        } catch {
            logger.error("configuration reload failed; keeping the running settings", metadata: ["error": "\(error)"])
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
