import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import Proxy
import RouteStore
import Synchronization

/// `switchboard serve`: run the proxy. Its settings are declared once in the Proxy module
/// (`SettingsCatalog`); the flags, the environment and the file are read from there.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the SSH proxy.",
        usage: "switchboard serve [--config FILE] [--check-config] [--SETTING VALUE ...]",
        discussion: """
            Every setting can be given as a flag, in the environment (SWITCHBOARD_<NAME>, e.g. \
            SWITCHBOARD_LOGIN_GRACE_TIME; lists comma-separated) or in the YAML file given with --config \
            (the same names in snake_case, e.g. login_grace_time: 30). Flags override the environment, \
            which overrides the file, which overrides the defaults. SIGHUP re-reads the file and applies \
            what can change while running.

            SETTINGS:
            \(SettingsCatalog.helpText)
            """)

    @Option(help: ArgumentHelp("YAML configuration file.", valueName: "FILE")) var config: String?
    @Flag(help: "Check the configuration (file, environment, flags) and exit: 0 if it is good.") var checkConfig = false
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Settings as flags (see SETTINGS below).", valueName: "settings"))
    var settingFlags: [String] = []

    /// The file, then the environment, then the flags, over the defaults.
    private func resolvedSettings(flags: SettingsLayer) throws(ProxyError) -> ProxySettings {
        var layers: [SettingsLayer] = []
        if let config { layers.append(try ConfigurationFile.layer(at: config)) }
        layers.append(SettingsLayer(environment: ProcessInfo.processInfo.environment))
        layers.append(flags)
        return try ProxySettings.resolve(layers)
    }

    /// A mistyped flag is a usage error, like any other command's.
    func validate() throws {
        do {
            _ = try SettingsLayer(arguments: settingFlags)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let flags = try SettingsLayer(arguments: settingFlags)
        let settings: ProxySettings
        do {
            settings = try resolvedSettings(flags: flags)
        } catch {
            throw CommandFailure(description: "configuration: \(error)")
        }
        if checkConfig {
            print("# configuration is valid\(config.map { " (\($0))" } ?? ""); the settings in effect:")
            print(settings.description)
            return
        }
        // A client vanishing mid-write must cost only its own connection, never the process.
        signal(SIGPIPE, SIG_IGN)
        LogOutput.currentLevel.store(LogOutput.levelIndex(settings[.logLevel]), ordering: .relaxed)
        LoggingSystem.bootstrap { [format = settings[.logFormat]] label in LogOutput(label: label, format: format) }
        let logger = Logger(label: "switchboard")

        try runReportingErrors {
            let location = try StoreLocation(database: settings[.database], dataDirectory: settings.dataDirectory)
            let store = try SQLRouteStore(location: location)
            logger.info("store opened", metadata: ["store": "\(location.displayName)", "store.shared": "\(location.isShared)"])
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            ProxyMetrics.registerFamilies()
            let server = try ProxyServer(settings: settings, store: store, shared: location.isShared, logger: logger)
            let metricsServer = try settings[.metricsListen].map { address throws(ProxyError) in
                try MetricsServer(
                    listen: address, metrics: { registry.emitToBuffer() }, healthy: { server.isHealthy },
                    ready: { server.node.databaseReachable }, logger: logger)
            }
            metricsServer?.start()
            defer { metricsServer?.stop() }
            let adminService = try AdminService(
                settings: settings, store: store, proxy: server, sharedStore: location.isShared, logger: logger)
            adminService.start()
            defer { adminService.stop() }
            let signalCount = Atomic<Int>(0)
            let stopSignals = SignalWatcher(signals: [SIGINT, SIGTERM]) { signal in
                if signalCount.add(1, ordering: .relaxed).newValue > 1 {
                    logger.warning("second signal: exiting now", metadata: ["signal": "\(signal)"])
                    _exit(0)
                }
                // With a health endpoint, a load balancer first hears that this node is going,
                // while it still accepts; then the listener closes and sessions drain.
                let grace = metricsServer == nil ? 0 : server.settings[.healthGrace]
                server.announceDrain()
                if grace > 0 {
                    logger.info("received signal: reporting unhealthy before closing the listener", metadata: [
                        "signal": "\(signal)", "health_grace.seconds": "\(grace)",
                    ])
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(grace)) {
                    logger.info("no new connections, draining", metadata: [
                        "signal": "\(signal)", "drain.seconds": "\(server.settings[.drainTimeout])", "sessions": "\(server.connectionCount)",
                    ])
                    server.stopAccepting()
                }
            }
            let reloadSignal = SignalWatcher(signals: [SIGHUP]) { _ in reload(server, flags: flags, logger: logger) }
            defer { withExtendedLifetime((stopSignals, reloadSignal)) {} }
            try server.run()
            if !server.waitForConnections(timeout: .seconds(server.settings[.drainTimeout])) {
                logger.info("drain timeout: closing the remaining sessions", metadata: ["sessions": "\(server.connectionCount)"])
                server.closeAllConnections()
                _ = server.waitForConnections(timeout: .seconds(5))
            }
            server.node.leave()
            logger.info("stopped")
        }
    }

    /// SIGHUP: re-reads the file (flags and environment still win), applies what can change
    /// while running, and logs what it applied and what needs a restart.
    private func reload(_ server: ProxyServer, flags: SettingsLayer, logger: Logger) {
        do {
            let (applied, needsRestart) = server.reload(try resolvedSettings(flags: flags))
            LogOutput.currentLevel.store(LogOutput.levelIndex(server.settings[.logLevel]), ordering: .relaxed)
            logger.notice("configuration reloaded", metadata: [
                "applied": "\(applied.isEmpty ? "nothing changed" : applied.joined(separator: ","))",
                "needs_restart": "\(needsRestart.isEmpty ? "none" : needsRestart.joined(separator: ","))",
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
