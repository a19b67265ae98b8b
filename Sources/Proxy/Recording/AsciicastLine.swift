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
    /// Written byte by byte rather than through JSONSerialization, which cost a watched
    /// terminal seven times the relay's own CPU per byte (bench.py's terminal-watch rows).
    static func event(_ kind: Kind, _ text: String, after elapsed: Duration) -> Data? {
        let microseconds = elapsed.components.seconds * 1_000_000 + (elapsed.components.attoseconds + 500_000_000_000) / 1_000_000_000_000
        var line: [UInt8] = []
        line.reserveCapacity(text.utf8.count + 32)
        line.append(UInt8(ascii: "["))
        line += Array(String(microseconds / 1_000_000).utf8)
        let fraction = microseconds % 1_000_000
        if fraction != 0 {
            let digits = String(fraction)
            line.append(UInt8(ascii: "."))
            line += Array(repeating: UInt8(ascii: "0"), count: 6 - digits.utf8.count)
            line += Array(digits.utf8.reversed().drop { $0 == UInt8(ascii: "0") }.reversed())
        }
        line += Array(",\"\(kind.rawValue)\",".utf8)
        appendJSONString(text, to: &line)
        line.append(UInt8(ascii: "]"))
        return Data(line)
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped, everything
    /// else (valid UTF-8, as a String always is) as it is.
    static func appendJSONString(_ text: String, to line: inout [UInt8]) {
        line.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): line += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): line += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: line += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: line += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: line += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                line += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}
