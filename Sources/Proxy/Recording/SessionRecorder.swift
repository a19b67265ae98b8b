import Foundation

/// Writes one terminal session as an asciicast v2 file: a JSON header (terminal size, start
/// time, TERM), then one JSON array per event: `[seconds, "o", text]` for output, `"i"` for
/// input (only when asked), `"r"` for a resize ("COLSxROWS"). The file is created 0600 inside
/// the record directory under a name the proxy chooses, never one a user or route supplies.
/// It stops (with an `"m"` marker event saying why) at `maximumBytes` or at a write error, and
/// tells `stopped` once.
final class SessionRecorder {
    let path: String
    private let handle: FileHandle
    private let started = ContinuousClock.now
    private let recordsInput: Bool
    private let maximumBytes: Int
    private let stopped: (String) -> Void
    private var bytesWritten = 0
    /// Why recording stopped early ("size-limit", "write-error"), if it did.
    private(set) var stopReason: String?
    /// Bytes of a UTF-8 sequence split across two reads, kept for the next event.
    private var pendingOutput: [UInt8] = []
    private var pendingInput: [UInt8] = []

    /// Creates `<directory>/<name>.cast` (failing if it exists) and writes the header.
    init(
        directory: String, name: String, columns: Int, rows: Int, terminal: String, recordsInput: Bool,
        maximumBytes: Int = .max, stopped: @escaping (String) -> Void = { _ in }
    ) throws {
        precondition(name.allSatisfy { $0.isNumber || $0 == "-" }, "recording names are made of audit ids")
        let previousMask = umask(0o077)
        defer { umask(previousMask) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        path = (directory as NSString).appendingPathComponent("\(name).cast")
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RecordingError(message: "cannot create \(path): \(String(cString: strerror(errno)))") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        self.recordsInput = recordsInput
        self.maximumBytes = maximumBytes
        self.stopped = stopped
        let header: [String: Any] = [
            "version": 2, "width": columns, "height": rows, "timestamp": Int(Date().timeIntervalSince1970),
            "env": ["TERM": terminal],
        ]
        try writeLine(JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    struct RecordingError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    func output<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        event("o", text: Self.compact(Self.completeText(&pendingOutput, bytes)))
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

    func input<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        guard recordsInput else { return }
        event("i", text: Self.completeText(&pendingInput, bytes))
    }

    func resize(columns: Int, rows: Int) {
        event("r", text: "\(columns)x\(rows)")
    }

    private func event(_ kind: String, text: String) {
        guard stopReason == nil, !text.isEmpty else { return }
        guard let data = line(kind, text) else { return }
        guard bytesWritten + data.count + Self.markerAllowance <= maximumBytes else {
            stop("size-limit", marker: "recording stopped: the recording reached its size limit")
            return
        }
        do {
            try writeLine(data)
        } catch {
            stop("write-error", marker: nil)
        }
    }

    /// Room kept for the marker that says why a recording stopped.
    private static let markerAllowance = 128

    private func line(_ kind: String, _ text: String) -> Data? {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rounded = (seconds * 1_000_000).rounded() / 1_000_000
        return try? JSONSerialization.data(withJSONObject: [rounded, kind, text] as [Any], options: .withoutEscapingSlashes)
    }

    private func stop(_ reason: String, marker: String?) {
        stopReason = reason
        if let marker, let data = line("m", marker) { try? writeLine(data) }
        stopped(reason)
    }

    private func writeLine(_ data: Data) throws {
        try handle.write(contentsOf: data + Data([0x0A]))
        bytesWritten += data.count + 1
    }

    /// Turns bytes into text, holding back an incomplete UTF-8 sequence at the end.
    private static func completeText<Bytes: Collection<UInt8>>(_ pending: inout [UInt8], _ bytes: Bytes) -> String {
        var all = pending + Array(bytes)
        var cut = all.count
        // Look back at most 3 bytes for the start of a multi-byte sequence that is not complete.
        for back in 1...min(3, all.count) {
            let byte = all[all.count - back]
            if byte & 0xC0 == 0x80 { continue }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if length > back { cut = all.count - back }
            break
        }
        pending = Array(all[cut...])
        all.removeSubrange(cut...)
        return String(decoding: all, as: UTF8.self)
    }
}
