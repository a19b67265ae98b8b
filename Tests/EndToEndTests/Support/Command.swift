import Foundation

/// What a finished command printed and how it exited.
struct CommandResult {
    let status: Int32
    let stdout: Data
    let stderr: Data

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
}

struct CommandTimedOut: Error, CustomStringConvertible {
    let command: String
    var description: String { "timed out: \(command)" }
}

/// Runs real programs with files (not pipes) for their output, so large outputs never
/// deadlock, and kills them if they outlive `timeout`. Uses posix_spawn and waitpid directly:
/// Foundation's Process on Linux can block reaping one child behind another long-lived one.
enum Command {
    static func run(
        _ executable: String, _ arguments: [String], stdin: Data? = nil,
        environment: [String: String]? = nil, timeout: TimeInterval = 60
    ) throws -> CommandResult {
        try start(executable, arguments, stdin: stdin, environment: environment).wait(timeout: timeout)
    }

    static func start(
        _ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil
    ) throws -> RunningCommand {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sbcmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var stdinPath = "/dev/null"
        if let stdin {
            stdinPath = scratch.appendingPathComponent("in").path
            try stdin.write(to: URL(fileURLWithPath: stdinPath))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, scratch.appendingPathComponent("out").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, scratch.appendingPathComponent("err").path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let environmentStrings = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp = environmentStrings.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard rc == 0 else { throw HarnessError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        return RunningCommand(pid: pid, scratch: scratch, description: ([executable] + arguments).joined(separator: " "))
    }
}

/// A started program; `wait` collects its result.
final class RunningCommand {
    let pid: pid_t
    private let scratch: URL
    private let description: String
    private var exitStatus: Int32?

    init(pid: pid_t, scratch: URL, description: String) {
        self.pid = pid
        self.scratch = scratch
        self.description = description
    }

    /// Output written so far to stdout.
    var stdoutSoFar: String {
        (try? String(contentsOf: scratch.appendingPathComponent("out"), encoding: .utf8)) ?? ""
    }

    /// Output written so far to stderr.
    var stderrSoFar: String {
        (try? String(contentsOf: scratch.appendingPathComponent("err"), encoding: .utf8)) ?? ""
    }

    /// How many bytes have been written to stderr so far.
    var stderrByteCount: UInt64 {
        let attributes = try? FileManager.default.attributesOfItem(atPath: scratch.appendingPathComponent("err").path)
        return (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The bytes written to stderr from byte `offset` on.
    func stderr(from offset: UInt64) -> Data {
        guard let file = FileHandle(forReadingAtPath: scratch.appendingPathComponent("err").path) else { return Data() }
        defer { try? file.close() }
        guard (try? file.seek(toOffset: offset)) != nil else { return Data() }
        return (try? file.readToEnd()) ?? Data()
    }

    var isRunning: Bool {
        reap()
        return exitStatus == nil
    }

    func wait(timeout: TimeInterval) throws -> CommandResult {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if isRunning {
            terminate()
            throw CommandTimedOut(command: description)
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        return CommandResult(
            status: exitStatus ?? -1,
            stdout: (try? Data(contentsOf: scratch.appendingPathComponent("out"))) ?? Data(),
            stderr: (try? Data(contentsOf: scratch.appendingPathComponent("err"))) ?? Data())
    }

    func terminate() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(3)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if isRunning { kill(pid, SIGKILL) }
        while isRunning { Thread.sleep(forTimeInterval: 0.02) }
    }

    /// Collects the exit status once the child has ended: the exit code, or 128 + signal.
    private func reap() {
        guard exitStatus == nil else { return }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return }
        let signal = status & 0x7f
        exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Ends the program if it still runs and deletes its captured input and output.
    deinit {
        terminate()
        try? FileManager.default.removeItem(at: scratch)
    }
}
