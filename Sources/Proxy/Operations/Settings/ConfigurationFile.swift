import Foundation
import Yams

/// The YAML file given with `serve --config`: a mapping of setting names (snake_case) to
/// values. Values are taken as the text written in the file (so `host_key_policy: off` stays
/// "off"), lists become comma-separated text as in the environment, and an empty or null value
/// leaves the setting as it is.
public enum ConfigurationFile {
    /// Reads the file at `path`, refusing one that others can write.
    public static func layer(at path: String) throws(ProxyError) -> SettingsLayer {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProxyError(.configuration, "cannot read \(path)") }
        // Whoever can write the file can point the proxy anywhere (its data, its recordings).
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o022 != 0 {
            throw ProxyError(.configuration, "\(path) is writable by group or others; refusing it (chmod go-w \(path))")
        }
        return try layer(parsing: String(decoding: data, as: UTF8.self), file: path)
    }

    /// The settings in `text`, the contents of `file` (named in every error); unknown setting
    /// names are errors. The values are checked when the layer is applied.
    public static func layer(parsing text: String, file: String) throws(ProxyError) -> SettingsLayer {
        try SettingsLayer(file: file, values: values(parsing: text, file: file))
    }

    /// The YAML mapping in `text` as setting names and their text, in the file's order.
    static func values(parsing text: String, file: String) throws(ProxyError) -> [(key: String, text: String)] {
        let document: Node?
        do {
            document = try Yams.compose(yaml: text)
        } catch {
            throw ProxyError(.configuration, "\(file): not valid YAML: \(error)")
        }
        guard let document else { return [] }
        guard let mapping = document.mapping else { throw ProxyError(.configuration, "\(file): expected a mapping of settings") }
        var values: [(key: String, text: String)] = []
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string else { throw ProxyError(.configuration, "\(file): setting names must be plain words") }
            if valueNode.null != nil { continue }
            if let scalar = valueNode.scalar {
                values.append((key, scalar.string))
            } else if let sequence = valueNode.sequence {
                let items = sequence.compactMap { $0.scalar?.string }
                guard items.count == sequence.count else { throw ProxyError(.configuration, "\(file): \(key): expected a list of values") }
                values.append((key, items.joined(separator: ",")))
            } else {
                throw ProxyError(.configuration, "\(file): \(key): expected a value, not a mapping")
            }
        }
        return values
    }
}
