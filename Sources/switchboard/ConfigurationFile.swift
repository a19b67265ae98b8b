import Foundation
import Proxy
import Yams

/// The YAML file given with `serve --config`: a mapping of setting names (snake_case) to
/// values. Values are taken as the text written in the file (so `host_key_policy: off` stays
/// "off"), lists become comma-separated text as in the environment, and an empty or null value
/// leaves the setting as it is.
enum ConfigurationFile {
    static func layer(at path: String) throws(ProxyError) -> SettingsLayer {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProxyError(.configuration, "cannot read \(path)") }
        // Whoever can write the file can point the proxy anywhere (its data, its recordings).
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o022 != 0 {
            throw ProxyError(.configuration, "\(path) is writable by group or others; refusing it (chmod go-w \(path))")
        }
        let document: Node?
        do {
            document = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ProxyError(.configuration, "\(path): not valid YAML: \(error)")
        }
        guard let document else { return try SettingsLayer(file: path, values: []) }
        guard let mapping = document.mapping else { throw ProxyError(.configuration, "\(path): expected a mapping of settings") }
        var values: [(key: String, text: String)] = []
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string else { throw ProxyError(.configuration, "\(path): setting names must be plain words") }
            if valueNode.null != nil { continue }
            if let scalar = valueNode.scalar {
                values.append((key, scalar.string))
            } else if let sequence = valueNode.sequence {
                let items = sequence.compactMap { $0.scalar?.string }
                guard items.count == sequence.count else { throw ProxyError(.configuration, "\(path): \(key): expected a list of values") }
                values.append((key, items.joined(separator: ",")))
            } else {
                throw ProxyError(.configuration, "\(path): \(key): expected a value, not a mapping")
            }
        }
        return try SettingsLayer(file: path, values: values)
    }
}
