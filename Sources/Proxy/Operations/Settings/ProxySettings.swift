import RouteStore

/// The values of every `serve` setting, read through the declarations:
/// `settings[.idleTimeout]`. A setting that was never given has its declared default.
public struct ProxySettings: Sendable {
    private var values: [String: any Sendable] = [:]

    /// Every setting at its default.
    public init() {}

    public subscript<Value>(setting: Setting<Value>) -> Value {
        get { values[setting.name].flatMap { $0 as? Value } ?? setting.defaultValue }
        set { values[setting.name] = newValue }
    }

    /// Takes `source`'s value for the setting `name`, given or not.
    mutating func copyStoredValue(named name: String, from source: ProxySettings) {
        values[name] = source.values[name]
    }

    /// True if `setting` was given (by a flag, the environment or the file), not defaulted.
    public func isSet<Value>(_ setting: Setting<Value>) -> Bool { values[setting.name] != nil }

    /// The data directory the settings name (else the environment's or the default one).
    public var dataDirectory: DataDirectory { DataDirectory(explicit: self[.dataDir]) }

    /// Checks every value, then the combinations no single declaration can judge.
    public func validate() throws(ProxyError) {
        for setting in SettingsCatalog.all {
            if let problem = setting.problem(in: self) { throw ProxyError(.configuration, "\(setting.name): \(problem)") }
        }
        if self[.proxyProtocol] && self[.trustedProxies].isEmpty {
            throw ProxyError(.configuration, "--proxy-protocol needs --trusted-proxies (the load balancers' addresses)")
        }
        if (self[.adminTLSCertificate] == nil) != (self[.adminTLSKey] == nil) {
            throw ProxyError(.configuration, "--admin-tls-certificate and --admin-tls-key go together")
        }
        if let admin = self[.adminListen], self[.adminTLSCertificate] == nil, !admin.isLoopback {
            throw ProxyError(
                .configuration,
                "--admin-listen \(admin) is not a loopback address: give --admin-tls-certificate and --admin-tls-key, or listen on 127.0.0.1 or [::1] (e.g. behind a TLS reverse proxy on the same host)")
        }
    }

    /// The settings as `--check-config` prints them: a YAML file that means the same. Settings
    /// that are not set are comments; the data directory is the one in effect.
    public var description: String {
        SettingsCatalog.all.map { setting in
            if setting.name == Setting<String?>.dataDir.name { return "\(setting.name): \(ConfigurationFile.scalar(dataDirectory.path))" }
            return setting.value(in: self).map { "\(setting.name): \(ConfigurationFile.scalar($0))" } ?? "# \(setting.name): not set"
        }.joined(separator: "\n")
    }
}
