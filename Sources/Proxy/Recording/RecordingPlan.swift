import Foundation

/// Where a connection's terminal sessions are recorded: `<directory>/<audit id>.cast` for the
/// first, `<audit id>-2.cast` and on for more terminals on the same connection, within the
/// size limits, and whether a session that cannot be recorded may go on unrecorded.
final class RecordingPlan {
    /// The limits that keep recordings from filling the disk.
    struct Limits {
        /// One recording stops at this size.
        var maximumFileBytes: Int
        /// No new recording starts while the directory's recordings add up to this much.
        var maximumTotalBytes: Int
    }

    let directory: String
    let auditID: Int64
    let recordsInput: Bool
    let limits: Limits
    /// True if a terminal that cannot be recorded must not run at all.
    let required: Bool
    private var made = 0
    private let firstRecorded: (String) -> Void
    /// Told when a recording cannot start or stops early, with the reason.
    private let failed: (String) -> Void

    init(
        directory: String, auditID: Int64, recordsInput: Bool, limits: Limits, required: Bool,
        failed: @escaping (String) -> Void, firstRecorded: @escaping (String) -> Void
    ) {
        self.directory = directory
        self.auditID = auditID
        self.recordsInput = recordsInput
        self.limits = limits
        self.required = required
        self.failed = failed
        self.firstRecorded = firstRecorded
    }

    func makeRecorder(columns: Int, rows: Int, terminal: String) throws -> SessionRecorder {
        let used = Self.recordedBytes(in: directory)
        guard used < limits.maximumTotalBytes else {
            failed("total-size-limit")
            throw SessionRecorder.RecordingError(message: "the recordings in \(directory) use \(used) bytes, the limit")
        }
        made += 1
        let recorder: SessionRecorder
        do {
            recorder = try SessionRecorder(
                directory: directory, name: made == 1 ? "\(auditID)" : "\(auditID)-\(made)", columns: columns, rows: rows,
                terminal: terminal, recordsInput: recordsInput, maximumBytes: limits.maximumFileBytes, stopped: failed)
        } catch {
            failed("create-error")
            throw error
        }
        if made == 1 { firstRecorded(recorder.path) }
        return recorder
    }

    /// What the `.cast` files in `directory` add up to.
    static func recordedBytes(in directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".cast") }.reduce(0) { total, name in
            var info = stat()
            return stat((directory as NSString).appendingPathComponent(name), &info) == 0 ? total + Int(info.st_size) : total
        }
    }
}
