import Foundation
import Proxy
import Yams

/// The YAML file given with `serve --config`: a mapping of setting names (snake_case) to
/// values; lists become comma-separated text, as in the environment.
enum ConfigurationFile {
    static func layer(at path: String) throws(ProxyError) -> SettingsLayer {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProxyError(.configuration, "cannot read \(path)") }
        let parsed: Any?
        do {
            parsed = try Yams.load(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ProxyError(.configuration, "\(path): not valid YAML: \(error)")
        }
        guard let parsed else { return try SettingsLayer(file: path, values: []) }
        guard let mapping = parsed as? [String: Any] else { throw ProxyError(.configuration, "\(path): expected a mapping of settings") }
        var values: [(key: String, text: String)] = []
        for (key, value) in mapping.sorted(by: { $0.key < $1.key }) {
            switch value {
            case let list as [Any]:
                values.append((key, list.map { "\($0)" }.joined(separator: ",")))
            case is [String: Any]:
                throw ProxyError(.configuration, "\(path): \(key): expected a value, not a mapping")
            default:
                values.append((key, "\(value)"))
            }
        }
        return try SettingsLayer(file: path, values: values)
    }
}
