@testable import Proxy

/// The YAML file of `serve --config` (`ConfigurationFile.layer(parsing:file:)`). Promises: the
/// values read are the ones written (the same pairs, written again as plain YAML, read the
/// same); a layer holds only known setting names; every failure is a configuration error that
/// names the file; what `--check-config` prints for an accepted file reads back as the same
/// settings.
enum ConfigFileTarget {
    private static let file = "fuzz.yaml"

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let values: [(key: String, text: String)]
        do {
            values = try ConfigurationFile.values(parsing: text, file: file)
        } catch {
            requireNamesTheFile(error)
            return
        }
        // Explicit keys (`? key`), because YAML limits a plain `key:` to 1024 characters.
        let rewritten = values.map { "? \(ConfigurationFile.quoted($0.key))\n: \(ConfigurationFile.quoted($0.text))\n" }.joined()
        let again = try? ConfigurationFile.values(parsing: rewritten, file: file)
        require(again.map { $0.elementsEqual(values, by: ==) } == true, "\(values) written as YAML read back as \(String(describing: again))")

        let layer: SettingsLayer
        do {
            layer = try ConfigurationFile.layer(parsing: text, file: file)
        } catch {
            requireNamesTheFile(error)
            require(values.contains { SettingsCatalog.named($0.key) == nil }, "only known names, but: \(error)")
            return
        }
        require(values.allSatisfy { SettingsCatalog.named($0.key) != nil }, "a layer with an unknown name")
        let settings: ProxySettings
        do {
            settings = try ProxySettings.resolve([layer])
        } catch {
            require(error.code == .configuration, "resolving failed with \(error.code): \(error)")
            return
        }
        requireCheckConfigReadsBack(settings)
    }

    private static func requireNamesTheFile(_ error: ProxyError) {
        require(error.code == .configuration, "failed with \(error.code): \(error)")
        require(error.message.hasPrefix("\(file): "), "the error does not name the file: \(error)")
    }

    /// What `--check-config` prints for these settings is a configuration file that gives them again.
    private static func requireCheckConfigReadsBack(_ settings: ProxySettings) {
        let printed = settings.description
        do {
            let again = try ProxySettings.resolve([ConfigurationFile.layer(parsing: printed, file: file)])
            require(again.description == printed, "--check-config printed\n\(printed)\nwhich reads back as\n\(again.description)")
        } catch {
            require(false, "--check-config printed\n\(printed)\nwhich does not read back: \(error)")
        }
    }
}
