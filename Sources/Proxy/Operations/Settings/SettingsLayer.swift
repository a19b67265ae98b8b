/// One source of settings as text per setting: the configuration file, the environment or the
/// command line. `ProxySettings.resolve` reads the layers in that order, so later ones win.
public struct SettingsLayer: Sendable {
    /// Where the values come from, for error messages: a file's path, "environment", "flags".
    public let source: String
    private let values: [(setting: any AnySetting, text: String, origin: String)]

    /// `switchboard serve` arguments: `--idle-timeout 600` or `--idle-timeout=600`; on/off
    /// settings are switches without a value (`--proxy-protocol`).
    public init(arguments: [String]) throws(ProxyError) {
        source = "flags"
        var values: [(any AnySetting, String, String)] = []
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let setting = SettingsCatalog.all.first(where: { $0.flag == parts[0] }) else {
                throw ProxyError(.configuration, "unknown option \"\(argument)\" (see switchboard serve --help)")
            }
            let flag = parts[0]
            if parts.count == 2 {
                values.append((setting, parts[1], flag))
            } else if setting.isSwitch {
                values.append((setting, "true", flag))
            } else if let value = remaining.popFirst(), !value.hasPrefix("--") {
                values.append((setting, value, flag))
            } else {
                throw ProxyError(.configuration, "\(flag) needs a value (\(setting.valueName))")
            }
        }
        self.values = values
        // Check the flags' values now, so a mistyped flag is a usage error of its own.
        var scratch = ProxySettings()
        try apply(to: &scratch)
    }

    /// `SWITCHBOARD_<NAME>` variables; empty ones are ignored, lists are comma-separated.
    public init(environment: [String: String]) {
        source = "environment"
        values = SettingsCatalog.all.compactMap { setting in
            guard let text = environment[setting.environmentVariable], !text.isEmpty else { return nil }
            return (setting, text, setting.environmentVariable)
        }
    }

    /// A configuration file's settings as text (lists comma-separated); unknown keys are
    /// errors, so a typo cannot pass silently.
    public init(file path: String, values fileValues: [(key: String, text: String)]) throws(ProxyError) {
        source = path
        var values: [(any AnySetting, String, String)] = []
        for (key, text) in fileValues {
            guard let setting = SettingsCatalog.named(key) else {
                let known = SettingsCatalog.all.map(\.name).sorted().joined(separator: ", ")
                throw ProxyError(.configuration, "\(path): unknown setting \"\(key)\" (known: \(known))")
            }
            values.append((setting, text, "\(path): \(key)"))
        }
        self.values = values
    }

    /// Reads this layer's values into `settings`.
    func apply(to settings: inout ProxySettings) throws(ProxyError) {
        for (setting, text, origin) in values {
            guard !text.isEmpty else { throw ProxyError(.configuration, "\(origin): needs a value (\(setting.valueName))") }
            do {
                try setting.read(text, into: &settings)
            } catch {
                throw ProxyError(.configuration, "\(origin): \(error.message)")
            }
        }
    }
}

extension ProxySettings {
    /// The defaults, overridden by each layer in turn (file, then environment, then flags),
    /// then validated as a whole.
    public static func resolve(_ layers: [SettingsLayer]) throws(ProxyError) -> ProxySettings {
        var settings = ProxySettings()
        for layer in layers { try layer.apply(to: &settings) }
        try settings.validate()
        return settings
    }

    /// What SIGHUP does with `new`: every changed setting is either applied (it can change
    /// while running) or reported as needing a restart; nothing changes silently.
    public func reloaded(with new: ProxySettings) -> (settings: ProxySettings, applied: [String], needsRestart: [String]) {
        var result = self
        var applied: [String] = []
        var needsRestart: [String] = []
        for setting in SettingsCatalog.all where setting.differs(between: self, and: new) {
            switch setting.reload {
            case .live:
                setting.copy(from: new, into: &result)
                applied.append(setting.name)
            case .restart:
                needsRestart.append(setting.name)
            }
        }
        return (result, applied, needsRestart)
    }
}
