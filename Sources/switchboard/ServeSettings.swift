import Foundation
import Logging
import Proxy
import RouteStore
import Yams

/// Every `serve` setting, each optional so that layers can be merged: flags override the
/// environment (`SWITCHBOARD_<NAME>`), which overrides the configuration file, which overrides
/// the defaults. The file is YAML with the flags' names in snake_case (`login_grace_time: 30`).
struct ServeSettings: Codable, Equatable {
    var listen: String?
    var dataDir: String?
    var loginGraceTime: Int?
    var maxAuthTries: Int?
    var upstreamConnectTimeout: Int?
    var drainTimeout: Int?
    var idleTimeout: Int?
    var maxConnections: Int?
    var maxConnectionsPerSource: Int?
    var tcpKeepalive: Int?
    var metricsListen: String?
    var proxyProtocol: Bool?
    var trustedProxies: [String]?
    var banAfter: Int?
    var banWindow: Int?
    var banTime: Int?
    var hostKeyPolicy: HostKeyPolicy?
    var logLevel: String?
    var logFormat: String?
    var recordDir: String?
    var recordInput: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen, dataDir = "data_dir", loginGraceTime = "login_grace_time", maxAuthTries = "max_auth_tries"
        case upstreamConnectTimeout = "upstream_connect_timeout", drainTimeout = "drain_timeout", idleTimeout = "idle_timeout"
        case maxConnections = "max_connections", maxConnectionsPerSource = "max_connections_per_source"
        case tcpKeepalive = "tcp_keepalive", metricsListen = "metrics_listen", proxyProtocol = "proxy_protocol"
        case trustedProxies = "trusted_proxies", banAfter = "ban_after", banWindow = "ban_window", banTime = "ban_time"
        case hostKeyPolicy = "host_key_policy", logLevel = "log_level", logFormat = "log_format"
        case recordDir = "record_dir", recordInput = "record_input"
    }

    static let defaults = ServeSettings(
        listen: "0.0.0.0:2222", loginGraceTime: 30, maxAuthTries: 6, upstreamConnectTimeout: 10, drainTimeout: 30,
        idleTimeout: 0, maxConnections: 4096, maxConnectionsPerSource: 256, tcpKeepalive: 60, proxyProtocol: false,
        trustedProxies: [], banAfter: 10, banWindow: 60, banTime: 300, hostKeyPolicy: .acceptNew, logLevel: "info",
        logFormat: "text", recordInput: false)

    /// This layer with every setting `other` has replaced by `other`'s.
    func overridden(by other: ServeSettings) -> ServeSettings {
        ServeSettings(
            listen: other.listen ?? listen, dataDir: other.dataDir ?? dataDir,
            loginGraceTime: other.loginGraceTime ?? loginGraceTime, maxAuthTries: other.maxAuthTries ?? maxAuthTries,
            upstreamConnectTimeout: other.upstreamConnectTimeout ?? upstreamConnectTimeout,
            drainTimeout: other.drainTimeout ?? drainTimeout, idleTimeout: other.idleTimeout ?? idleTimeout,
            maxConnections: other.maxConnections ?? maxConnections,
            maxConnectionsPerSource: other.maxConnectionsPerSource ?? maxConnectionsPerSource,
            tcpKeepalive: other.tcpKeepalive ?? tcpKeepalive, metricsListen: other.metricsListen ?? metricsListen,
            proxyProtocol: other.proxyProtocol ?? proxyProtocol, trustedProxies: other.trustedProxies ?? trustedProxies,
            banAfter: other.banAfter ?? banAfter, banWindow: other.banWindow ?? banWindow, banTime: other.banTime ?? banTime,
            hostKeyPolicy: other.hostKeyPolicy ?? hostKeyPolicy, logLevel: other.logLevel ?? logLevel,
            logFormat: other.logFormat ?? logFormat, recordDir: other.recordDir ?? recordDir,
            recordInput: other.recordInput ?? recordInput)
    }

    /// Reads a YAML configuration file; unknown keys are errors (a typo must not pass silently).
    static func load(file path: String) throws -> ServeSettings {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigurationError("cannot read \(path)") }
        let text = String(decoding: data, as: UTF8.self)
        let keys: [String]
        do {
            guard let parsed = try Yams.load(yaml: text) else { return ServeSettings() }
            guard let mapping = parsed as? [String: Any] else { throw ConfigurationError("\(path): expected a mapping of settings") }
            keys = Array(mapping.keys)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(path): not valid YAML: \(error)")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError("\(path): unknown setting \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        do {
            return try YAMLDecoder().decode(ServeSettings.self, from: text)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigurationError("\(path): \(key): \(context.debugDescription)")
        } catch {
            throw ConfigurationError("\(path): \(error)")
        }
    }

    /// The layer given by `SWITCHBOARD_<NAME>` environment variables (lists comma-separated).
    static func fromEnvironment(_ environment: [String: String]) throws -> ServeSettings {
        var object: [String: Any] = [:]
        for key in CodingKeys.allCases {
            guard let value = environment["SWITCHBOARD_" + key.rawValue.uppercased()], !value.isEmpty else { continue }
            switch key {
            case .proxyProtocol, .recordInput:
                guard let flag = ["true": true, "1": true, "yes": true, "false": false, "0": false, "no": false][value.lowercased()] else {
                    throw ConfigurationError("SWITCHBOARD_\(key.rawValue.uppercased()): expected true or false")
                }
                object[key.rawValue] = flag
            case .trustedProxies:
                object[key.rawValue] = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            case .listen, .dataDir, .metricsListen, .hostKeyPolicy, .logLevel, .logFormat, .recordDir:
                object[key.rawValue] = value
            default:
                guard let number = Int(value) else { throw ConfigurationError("SWITCHBOARD_\(key.rawValue.uppercased()): expected a number") }
                object[key.rawValue] = number
            }
        }
        do {
            return try JSONDecoder().decode(ServeSettings.self, from: JSONSerialization.data(withJSONObject: object))
        } catch {
            throw ConfigurationError("environment: \(error)")
        }
    }

    /// Checks a fully merged set and turns it into the proxy's configuration.
    func proxyConfiguration() throws -> ProxyConfiguration {
        let resolved = ServeSettings.defaults.overridden(by: self)
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigurationError(message) }
        }
        try require(resolved.loginGraceTime! > 0, "login_grace_time must be at least 1")
        try require(resolved.maxAuthTries! > 0, "max_auth_tries must be at least 1")
        try require(resolved.upstreamConnectTimeout! > 0, "upstream_connect_timeout must be at least 1")
        try require(resolved.drainTimeout! >= 0 && resolved.idleTimeout! >= 0, "drain_timeout and idle_timeout must be 0 or more")
        try require(resolved.maxConnections! > 0, "max_connections must be at least 1")
        try require(resolved.maxConnectionsPerSource! >= 0 && resolved.tcpKeepalive! >= 0,
                    "max_connections_per_source and tcp_keepalive must be 0 or more")
        try require(resolved.banAfter! >= 0 && resolved.banWindow! > 0 && resolved.banTime! > 0,
                    "ban_after must be 0 or more, ban_window and ban_time at least 1")
        try require(Logger.Level(rawValue: resolved.logLevel!) != nil,
                    "log_level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        try require(LogOutput.Format(rawValue: resolved.logFormat!) != nil, "log_format must be text or json")
        for (name, address) in [("listen", resolved.listen), ("metrics_listen", resolved.metricsListen)] {
            guard let address else { continue }
            do {
                _ = try UpstreamAddress(parsing: address, defaultPort: 2222, allowedPorts: 0...65535)
            } catch {
                throw ConfigurationError("\(name): \(error)")
            }
        }
        var configuration = ProxyConfiguration(dataDirectory: DataDirectory(explicit: resolved.dataDir))
        configuration.listen = resolved.listen!
        configuration.loginGraceSeconds = resolved.loginGraceTime!
        configuration.maxAuthTries = resolved.maxAuthTries!
        configuration.upstreamConnectTimeoutSeconds = resolved.upstreamConnectTimeout!
        configuration.defaultHostKeyPolicy = resolved.hostKeyPolicy!
        configuration.idleTimeoutSeconds = resolved.idleTimeout!
        configuration.maxConnections = resolved.maxConnections!
        configuration.maxConnectionsPerSource = resolved.maxConnectionsPerSource!
        configuration.tcpKeepaliveSeconds = resolved.tcpKeepalive!
        configuration.proxyProtocol = resolved.proxyProtocol!
        configuration.trustedProxies = resolved.trustedProxies!
        configuration.banAfter = resolved.banAfter!
        configuration.banWindowSeconds = resolved.banWindow!
        configuration.banTimeSeconds = resolved.banTime!
        configuration.recordDirectory = resolved.recordDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        configuration.recordInput = resolved.recordInput!
        try configuration.validate()
        return configuration
    }
}
