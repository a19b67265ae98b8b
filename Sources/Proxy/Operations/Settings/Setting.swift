/// When a changed setting takes effect after SIGHUP.
public enum SettingReload: String, Sendable {
    /// Applied to the running proxy; new connections use the new value.
    case live
    /// Reported, and kept as it is until the proxy restarts.
    case restart
}

/// One `serve` setting, declared once: its name (the configuration file's key; the flag and the
/// environment variable are derived from it), its default, its help text, whether SIGHUP can
/// apply it, how its text is read and what values are valid. Flags, `SWITCHBOARD_*` variables,
/// the YAML file, `--check-config`, SIGHUP and the README table all come from these
/// declarations (`Setting+Catalog.swift`).
public struct Setting<Value: Sendable & Equatable>: Sendable {
    /// The key in the configuration file, in snake_case: `login_grace_time`.
    public let name: String
    public let defaultValue: Value
    /// What the value is, for help texts: SECONDS, HOST:PORT, N.
    public let valueName: String
    public let help: String
    public let reload: SettingReload
    /// True for an on/off setting, given as a flag without value (`--proxy-protocol`).
    public let isSwitch: Bool
    /// How the default reads in help texts when the value alone would not explain it.
    let defaultDescription: String?
    /// Reads the value from text; the failure is a sentence without the setting's name.
    let parse: @Sendable (String) -> Result<Value, ProxyError>
    /// A problem with a parsed value, if any.
    let check: @Sendable (Value) -> String?
    /// The value as text; nil when the setting is not set (an optional value that is nil).
    let render: @Sendable (Value) -> String?

    init(
        _ name: String, default defaultValue: Value, valueName: String, reload: SettingReload, help: String,
        isSwitch: Bool = false, defaultDescription: String? = nil,
        parse: @escaping @Sendable (String) -> Result<Value, ProxyError>,
        check: @escaping @Sendable (Value) -> String? = { _ in nil },
        render: @escaping @Sendable (Value) -> String?
    ) {
        self.name = name
        self.defaultValue = defaultValue
        self.valueName = valueName
        self.help = help
        self.reload = reload
        self.isSwitch = isSwitch
        self.defaultDescription = defaultDescription
        self.parse = parse
        self.check = check
        self.render = render
    }
}

/// A setting of any value type: what the settings machinery does with each declaration.
public protocol AnySetting: Sendable {
    var name: String { get }
    var valueName: String { get }
    var help: String { get }
    var reload: SettingReload { get }
    var isSwitch: Bool { get }
    /// The default as help texts and the README show it.
    var defaultText: String { get }
    /// Reads `text` and stores the value in `settings`; the error does not name the setting.
    func read(_ text: String, into settings: inout ProxySettings) throws(ProxyError)
    /// What is wrong with this setting's value in `settings`, if anything.
    func problem(in settings: ProxySettings) -> String?
    /// The value as text, or nil when the setting is not set.
    func value(in settings: ProxySettings) -> String?
    func differs(between old: ProxySettings, and new: ProxySettings) -> Bool
    func copy(from source: ProxySettings, into target: inout ProxySettings)
}

extension AnySetting {
    /// The command-line flag: `--login-grace-time`.
    public var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }
    /// The environment variable: `SWITCHBOARD_LOGIN_GRACE_TIME`.
    public var environmentVariable: String { "SWITCHBOARD_" + name.uppercased() }
}

extension Setting: AnySetting {
    public var defaultText: String { defaultDescription ?? render(defaultValue) ?? "off" }

    public func read(_ text: String, into settings: inout ProxySettings) throws(ProxyError) {
        switch parse(text) {
        case .success(let value): settings[self] = value
        case .failure(let problem): throw problem
        }
    }

    public func problem(in settings: ProxySettings) -> String? { check(settings[self]) }
    public func value(in settings: ProxySettings) -> String? { render(settings[self]) }
    public func differs(between old: ProxySettings, and new: ProxySettings) -> Bool { old[self] != new[self] }
    public func copy(from source: ProxySettings, into target: inout ProxySettings) {
        target.copyStoredValue(named: name, from: source)
    }
}
