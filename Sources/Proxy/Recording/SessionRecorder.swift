import Foundation

/// Writes one terminal session as an asciicast v2 file: a JSON header (terminal size, start
/// time, TERM), then one JSON array per event: `[seconds, "o", text]` for output, `"i"` for
/// input (only when asked), `"r"` for a resize ("COLSxROWS"). The file is created 0600 inside
/// the record directory under a name the proxy chooses, never one a user or route supplies.
final class SessionRecorder {
    let path: String
    private let handle: FileHandle
    private let started = ContinuousClock.now
    private let recordsInput: Bool
    /// Bytes of a UTF-8 sequence split across two reads, kept for the next event.
    private var pendingOutput: [UInt8] = []
    private var pendingInput: [UInt8] = []

    /// Creates `<directory>/<name>.cast` (failing if it exists) and writes the header.
    init(directory: String, name: String, columns: Int, rows: Int, terminal: String, recordsInput: Bool) throws {
        precondition(name.allSatisfy { $0.isNumber || $0 == "-" }, "recording names are made of audit ids")
        let previousMask = umask(0o077)
        defer { umask(previousMask) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        path = (directory as NSString).appendingPathComponent("\(name).cast")
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RecordingError(message: "cannot create \(path): \(String(cString: strerror(errno)))") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        self.recordsInput = recordsInput
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
        event("o", text: Self.completeText(&pendingOutput, bytes))
    }

    func input<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        guard recordsInput else { return }
        event("i", text: Self.completeText(&pendingInput, bytes))
    }

    func resize(columns: Int, rows: Int) {
        event("r", text: "\(columns)x\(rows)")
    }

    private func event(_ kind: String, text: String) {
        guard !text.isEmpty else { return }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rounded = (seconds * 1_000_000).rounded() / 1_000_000
        guard let data = try? JSONSerialization.data(withJSONObject: [rounded, kind, text] as [Any], options: .withoutEscapingSlashes) else { return }
        try? writeLine(data)
    }

    private func writeLine(_ data: Data) throws {
        try handle.write(contentsOf: data + Data([0x0A]))
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

/// Where a connection's terminal sessions are recorded: `<directory>/<audit id>.cast` for the
/// first, `<audit id>-2.cast` and on for more terminals on the same connection.
final class RecordingPlan {
    let directory: String
    let auditID: Int64
    let recordsInput: Bool
    private var made = 0
    private let firstRecorded: (String) -> Void

    init(directory: String, auditID: Int64, recordsInput: Bool, firstRecorded: @escaping (String) -> Void) {
        self.directory = directory
        self.auditID = auditID
        self.recordsInput = recordsInput
        self.firstRecorded = firstRecorded
    }

    func makeRecorder(columns: Int, rows: Int, terminal: String) throws -> SessionRecorder {
        made += 1
        let recorder = try SessionRecorder(
            directory: directory, name: made == 1 ? "\(auditID)" : "\(auditID)-\(made)", columns: columns, rows: rows,
            terminal: terminal, recordsInput: recordsInput)
        if made == 1 { firstRecorded(recorder.path) }
        return recorder
    }
}
