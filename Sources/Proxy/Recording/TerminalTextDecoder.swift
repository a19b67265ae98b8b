/// Turns a terminal's byte stream, which arrives in pieces cut anywhere, into text for
/// asciicast events: a UTF-8 character split across two pieces is held back and given whole
/// with the next piece. One decoder per stream (a recording's output, its input, a watcher).
struct TerminalTextDecoder {
    /// Bytes of a UTF-8 sequence the last piece ended in the middle of.
    private var pending: [UInt8] = []

    /// The text of `bytes` after what was held back, holding back an incomplete UTF-8 sequence
    /// at the end. Invalid bytes become U+FFFD.
    mutating func text<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        var all = pending
        all.append(contentsOf: bytes)
        let cut = all.count - Self.incompleteTailLength(of: all)
        pending = Array(all[cut...])
        return String(decoding: all[..<cut], as: UTF8.self)
    }

    /// How many bytes at the end of `bytes` start a multi-byte sequence that is not complete
    /// (0 to 3); only the last three bytes can.
    private static func incompleteTailLength(of bytes: [UInt8]) -> Int {
        for back in stride(from: 1, through: min(3, bytes.count), by: 1) {
            let byte = bytes[bytes.count - back]
            if byte & 0xC0 == 0x80 { continue }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            return length > back ? back : 0
        }
        return 0
    }

    /// Drops the control characters no terminal draws (NUL and most of C0), which binary output
    /// is full of and which JSON would write as six-character escapes each. Kept: BEL,
    /// backspace, tab, line feed, form feed, carriage return, shift out/in and ESC.
    static func compact(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isDropped) else { return text }
        var kept = String.UnicodeScalarView()
        kept.append(contentsOf: text.unicodeScalars.lazy.filter { !isDropped($0) })
        return String(kept)
    }

    private static func isDropped(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 && ![0x07, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x0F, 0x1B].contains(scalar.value)
    }
}
