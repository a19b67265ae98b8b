/// Makes a recording safe to play in an administrator's terminal: drops the control strings a
/// recorded program could use against the terminal that replays it — OSC (window title,
/// clipboard through OSC 52, hyperlinks), DCS, APC, PM and SOS, in their 7-bit (`ESC ]`) and
/// 8-bit (U+009D) forms. Colours and cursor movement (CSI) stay. A string split across two
/// events is still dropped whole: the filter keeps its state between calls.
public struct ReplayFilter: Sendable {
    private enum State {
        case text
        /// An ESC was seen; the next character decides.
        case escape
        /// Inside a control string, until BEL or ST.
        case controlString
        /// An ESC inside a control string: `ESC \` (ST) ends it.
        case controlStringEscape
    }

    private var state = State.text

    public init() {}

    public mutating func filter(_ text: String) -> String {
        var kept = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch state {
            case .text:
                switch scalar {
                case "\u{1B}": state = .escape
                case "\u{9D}", "\u{90}", "\u{9F}", "\u{9E}", "\u{98}": state = .controlString
                default: kept.append(scalar)
                }
            case .escape:
                switch scalar {
                case "]", "P", "_", "^", "X":
                    state = .controlString
                case "\u{1B}":
                    kept.append("\u{1B}")
                default:
                    kept.append("\u{1B}")
                    kept.append(scalar)
                    state = .text
                }
            case .controlString:
                switch scalar {
                case "\u{07}", "\u{9C}": state = .text
                case "\u{1B}": state = .controlStringEscape
                default: break
                }
            case .controlStringEscape:
                state = scalar == "\\" ? .text : .controlString
            }
        }
        return String(kept)
    }
}
