import Foundation
import Logging
import Proxy
import Synchronization

/// The proxy's log lines on stderr, as `text` (timestamp, level, key=value metadata, message)
/// or one JSON object per line. The level can change while running (SIGHUP).
struct LogOutput: LogHandler {
    /// The level every handler obeys, changed by configuration reloads.
    static let currentLevel = Atomic<Int>(levelIndex(.info))

    let label: String
    let format: LogFormat
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    var logLevel: Logger.Level {
        get { Logger.Level.allCases[Self.currentLevel.load(ordering: .relaxed)] }
        set { Self.currentLevel.store(Self.levelIndex(newValue), ordering: .relaxed) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func levelIndex(_ level: Logger.Level) -> Int { Logger.Level.allCases.firstIndex(of: level) ?? 2 }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let timestamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line: String
        switch format {
        case .text:
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.textValue("\($0.value)"))" }
            line = ([timestamp, event.level.rawValue, "\(label):"] + fields + [event.message.description]).joined(separator: " ")
        case .json:
            var object: [String: String] = merged.reduce(into: [:]) { $0[$1.key] = "\($1.value)" }
            object["ts"] = timestamp
            object["level"] = event.level.rawValue
            object["logger"] = label
            object["msg"] = event.message.description
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Values stay bare unless they hold spaces, quotes, `=` or control characters.
    private static func textValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.value < 0x20 }
        guard needsQuotes else { return value }
        let escaped = value.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"": "\\\""
            case "\\": "\\\\"
            case _ where scalar.value < 0x20: "\\u{\(String(scalar.value, radix: 16))}"
            default: String(scalar)
            }
        }.joined()
        return "\"\(escaped)\""
    }
}
