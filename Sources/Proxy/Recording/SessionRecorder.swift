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
    /// Output and input as text, each holding back a UTF-8 sequence split across two reads.
    private var outputText = TerminalTextDecoder()
    private var inputText = TerminalTextDecoder()

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
        try writeLine(AsciicastLine.header(columns: columns, rows: rows, terminal: terminal, timestamp: Date()))
    }

    struct RecordingError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    func output<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        event(.output, text: TerminalTextDecoder.compact(outputText.text(bytes)))
    }

    func input<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        guard recordsInput else { return }
        event(.input, text: inputText.text(bytes))
    }

    func resize(columns: Int, rows: Int) {
        event(.resize, text: "\(columns)x\(rows)")
    }

    private func event(_ kind: AsciicastLine.Kind, text: String) {
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

    private func line(_ kind: AsciicastLine.Kind, _ text: String) -> Data? {
        AsciicastLine.event(kind, text, after: ContinuousClock.now - started)
    }

    private func stop(_ reason: String, marker: String?) {
        stopReason = reason
        if let marker, let data = line(.marker, marker) { try? writeLine(data) }
        stopped(reason)
    }

    private func writeLine(_ data: Data) throws {
        try handle.write(contentsOf: data + Data([0x0A]))
        bytesWritten += data.count + 1
    }
}
