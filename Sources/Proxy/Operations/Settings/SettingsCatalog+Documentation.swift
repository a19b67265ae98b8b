/// The settings' documentation, made from their declarations so it cannot drift from them.
extension SettingsCatalog {
    /// The options part of `switchboard serve --help`.
    public static var helpText: String {
        all.map { setting in
            let usage = setting.isSwitch ? setting.flag : "\(setting.flag) \(setting.valueName)"
            let help = setting.help.replacingOccurrences(of: "`", with: "")
            let defaultText = setting.defaultText.replacingOccurrences(of: "`", with: "")
            return "\(usage)\n    \(help). Default: \(defaultText). SIGHUP: \(setting.reload == .live ? "applied" : "needs a restart")."
        }.joined(separator: "\n")
    }

    /// The README's settings table (GitHub markdown); a test keeps the README equal to it.
    public static var markdownTable: String {
        let header = """
            | option | default | on SIGHUP | meaning |
            | --- | --- | --- | --- |
            """
        let rows = all.map { setting in
            let usage = setting.isSwitch ? "`\(setting.flag)`" : "`\(setting.flag) \(setting.valueName)`"
            let defaultText = setting.defaultText.contains("`") ? setting.defaultText : "`\(setting.defaultText)`"
            return "| \(usage) | \(defaultText) | \(setting.reload == .live ? "applied" : "restart") | \(setting.help) |"
        }
        return ([header] + rows).joined(separator: "\n")
    }
}
