import Foundation

/// The lines of an asciicast v2 stream, each one line of JSON (without its newline): the
/// header (terminal size, start time, TERM) and the events `[seconds, kind, text]`. Shared by
/// the recording files and the live watchers, so both write the same format.
enum AsciicastLine {
    /// What an event is: output, input, a resize ("COLSxROWS") or a marker.
    enum Kind: String {
        case output = "o"
        case input = "i"
        case resize = "r"
        case marker = "m"
    }

    /// The header line of a stream that starts at `timestamp` on a terminal of that size and type.
    static func header(columns: Int, rows: Int, terminal: String, timestamp: Date) -> Data {
        let header: [String: Any] = [
            "version": 2, "width": columns, "height": rows, "timestamp": Int(timestamp.timeIntervalSince1970),
            "env": ["TERM": terminal],
        ]
        // Numbers and strings always serialize; the fallback is never used.
        return (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// The event line for `text` at `elapsed` since the stream's start (to the microsecond).
    static func event(_ kind: Kind, _ text: String, after elapsed: Duration) -> Data? {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rounded = (seconds * 1_000_000).rounded() / 1_000_000
        return try? JSONSerialization.data(withJSONObject: [rounded, kind.rawValue, text] as [Any], options: .withoutEscapingSlashes)
    }
}
