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

    /// `text` as a YAML value that reads back as exactly `text`: as it is when that is safe (a
    /// port, a path, a word), else double-quoted with everything but printable ASCII escaped.
    static func scalar(_ text: String) -> String {
        isPlainSafe(text) ? text : quoted(text)
    }

    private static let plainCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,:+-".unicodeScalars)
    private static let plainStarts = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./".unicodeScalars)

    /// No character YAML gives a meaning to, no leading indicator, no trailing `:`, and not
    /// one of the words YAML reads as null (which the file takes as "not given").
    private static func isPlainSafe(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, plainStarts.contains(first) else { return false }
        return text.unicodeScalars.allSatisfy(plainCharacters.contains) && !text.hasSuffix(":")
            && !["null", "Null", "NULL"].contains(text)
    }

    /// `text` as a double-quoted YAML scalar that escapes everything but printable ASCII, so
    /// that its meaning does not depend on the YAML library's choices.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case " "..."~": result.unicodeScalars.append(scalar)
            case _ where scalar.value <= 0xFFFF: result += "\\u" + hex(scalar.value, digits: 4)
            default: result += "\\U" + hex(scalar.value, digits: 8)
            }
        }
        return result + "\""
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: digits - text.count) + text
    }
}
