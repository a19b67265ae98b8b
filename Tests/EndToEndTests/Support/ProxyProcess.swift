import Foundation

/// A route a fixture proxy starts with: what `switchboard route add LOGIN TARGET OPTIONS…` adds.
struct RouteSpec {
    let login: String
    /// HOST:PORT, as `route add` takes it.
    let target: String
    /// Further `route add` options, such as `--upstream-user`.
    let options: [String]

    init(_ login: String, to target: String, options: [String] = []) {
        self.login = login
        self.target = target
        self.options = options
    }

    /// A route to a loopback test upstream.
    init(_ login: String, to upstream: UpstreamServer, options: [String] = []) {
        self.init(login, to: "127.0.0.1:\(upstream.port)", options: options)
    }

    var addArguments: [String] { ["route", "add", login, target] + options }
}

/// A point in a proxy's log, from `logMark()`; `log(since:)` gives only what was logged after it.
struct LogMark {
    fileprivate let offset: UInt64
}

/// A real `switchboard serve` process on a free loopback port with its own data directory.
/// The data directory (host private keys, route keys, the database) is deleted when the last
/// proxy using it stops.
final class ProxyProcess {
    let dataDirectory: String
    /// The PostgreSQL store, if not SQLite in the data directory.
    let database: String?
    private(set) var port = 0
    private var daemon: RunningCommand?
    /// Keeps the data directory while this proxy may use it; released by `stop`.
    private var dataDirectoryHold: TemporaryPath?

    /// The one way tests start a proxy: serve on `listen` (a free loopback port by default) from
    /// a new data directory, add `routes` to it, and return once both are ready. With
    /// `sharingDataDirectoryWith`, the new process uses that proxy's data directory instead
    /// (a restart on the same data) and the directory lives until both have stopped.
    /// `launcher` runs the proxy under another program (e.g. `strace -f -o FILE`).
    /// `database` puts the store in PostgreSQL (serve and admin commands get `--database`);
    /// `prepare` runs on the new data directory before the proxy starts (e.g. to place host keys).
    init(arguments: [String] = [], routes: [RouteSpec] = [], listen: String = "127.0.0.1:0",
         sharingDataDirectoryWith other: ProxyProcess? = nil, launcher: [String] = [], binary: String = Programs.switchboard,
         startupTimeout: TimeInterval = 20, database: String? = nil, prepare: ((String) throws -> Void)? = nil) throws
    {
        self.database = database
        let hold: TemporaryPath
        if let other {
            guard let shared = other.dataDirectoryHold else { throw HarnessError("the proxy to share a data directory with has stopped") }
            hold = shared
        } else {
            hold = try TemporaryPath(prefix: "sb-proxy")
        }
        dataDirectory = hold.path
        dataDirectoryHold = hold
        try prepare?(dataDirectory)
        let command = launcher + [binary, "serve", "--listen", listen, "--data-dir", dataDirectory, "--log-level", "debug"]
            + (database.map { ["--database", $0] } ?? []) + arguments
        let process = try Command.start(command[0], Array(command.dropFirst()))
        daemon = process
        let deadline = Date().addingTimeInterval(startupTimeout)
        while Date() < deadline {
            if let match = process.stderrSoFar.firstMatch(of: /listen\.addr"?[=:]"?127\.0\.0\.1:(\d+)/), let port = Int(match.1) {
                self.port = port
                break
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard port != 0 else {
            let log = process.stderrSoFar
            stop()
            throw HarnessError("switchboard serve did not start listening:\n\(log)")
        }
        do {
            for route in routes { try mustAdmin(route.addArguments) }
        } catch {
            stop()
            throw error
        }
    }

    var pid: Int32 { daemon?.pid ?? 0 }

    /// True while the proxy process runs.
    var isRunning: Bool { daemon?.isRunning ?? false }

    /// Everything the proxy has logged so far.
    var log: String { daemon?.stderrSoFar ?? "" }

    /// Marks the current end of the log; take it before a test's own actions.
    func logMark() -> LogMark { LogMark(offset: daemon?.stderrByteCount ?? 0) }

    /// The lines the proxy logged after `mark` (a line it was in the middle of writing at the
    /// mark belongs to before the mark and is left out).
    func log(since mark: LogMark) -> String {
        guard let daemon else { return "" }
        var bytes = daemon.stderr(from: mark.offset == 0 ? 0 : mark.offset - 1)
        if mark.offset > 0 {
            // The byte before the mark tells whether the mark fell between two lines.
            let endsLine = bytes.first == UInt8(ascii: "\n")
            bytes = bytes.dropFirst()
            if !endsLine {
                bytes = bytes.firstIndex(of: UInt8(ascii: "\n")).map { bytes[($0 + 1)...] } ?? Data()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Runs an admin command against this proxy's data directory.
    func admin(_ arguments: [String]) throws -> CommandResult {
        try Command.run(
            Programs.switchboard, arguments + ["--data-dir", dataDirectory] + (database.map { ["--database", $0] } ?? []), timeout: 30)
    }

    /// Runs an admin command that must succeed.
    @discardableResult
    func mustAdmin(_ arguments: [String]) throws -> String {
        let result = try admin(arguments)
        guard result.status == 0 else { throw HarnessError("switchboard \(arguments.joined(separator: " ")) failed: \(result.err)") }
        return result.out
    }

    var openDescriptors: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
    var threads: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? -1 }

    /// Stops the proxy and lets go of its data directory (deleted unless another proxy shares it).
    func stop() {
        daemon?.terminate()
        daemon = nil
        dataDirectoryHold = nil
    }

    /// Sends `signal` to the proxy process.
    func send(_ signal: Int32) {
        if let daemon { kill(daemon.pid, signal) }
    }

    /// Waits for the proxy to exit by itself; its result has the whole log.
    func waitForExit(timeout: TimeInterval) throws -> CommandResult {
        guard let daemon else { throw HarnessError("the proxy is not running") }
        self.daemon = nil
        return try daemon.wait(timeout: timeout)
    }

    deinit { stop() }
}

/// Drives the real OpenSSH clients (`ssh`, `scp`, `sftp`, `rsync`) at the proxy, giving the
/// password through sshpass's environment variable so it never shows in `ps`.
struct Clients {
    let port: Int

    static let commonOptions = [
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
        "-o", "ConnectTimeout=15",
    ]

    private func environment(password: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SSHPASS"] = password
        return environment
    }

    var sshCommandLine: [String] { sshCommandLine(options: []) }

    /// `ssh` with `options` first: for `-o`, the first value given wins.
    func sshCommandLine(options: [String]) -> [String] { [Programs.ssh] + options + Self.commonOptions + ["-p", String(port)] }

    func ssh(_ user: String, _ password: String, _ command: String, stdin: Data? = nil, options: [String] = [],
             timeout: TimeInterval = 60) throws -> CommandResult
    {
        try Command.run(
            Programs.sshpass, ["-e"] + sshCommandLine(options: options) + ["\(user)@127.0.0.1", command],
            stdin: stdin, environment: environment(password: password), timeout: timeout)
    }

    func startSSH(_ user: String, _ password: String, _ command: String, options: [String] = []) throws -> RunningCommand {
        try Command.start(
            Programs.sshpass, ["-e"] + sshCommandLine(options: options) + ["\(user)@127.0.0.1", command],
            environment: environment(password: password))
    }

    func scp(_ password: String, _ from: String, _ to: String, timeout: TimeInterval = 120) throws -> CommandResult {
        try Command.run(
            Programs.sshpass, ["-e", Programs.scp] + Self.commonOptions + ["-P", String(port), from, to],
            environment: environment(password: password), timeout: timeout)
    }

    func sftp(_ user: String, _ password: String, batch: String, timeout: TimeInterval = 60) throws -> CommandResult {
        let batchFile = FileManager.default.temporaryDirectory.appendingPathComponent("sftp-\(UUID().uuidString)").path
        try batch.write(toFile: batchFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: batchFile) }
        return try Command.run(
            Programs.sshpass, ["-e", Programs.sftp] + Self.commonOptions
                + ["-o", "BatchMode=no", "-P", String(port), "-b", batchFile, "\(user)@127.0.0.1"],
            environment: environment(password: password), timeout: timeout)
    }

    func rsync(_ password: String, _ from: String, _ to: String, timeout: TimeInterval = 120) throws -> CommandResult {
        let remoteShell = ([Programs.ssh] + Self.commonOptions + ["-p", String(port)]).joined(separator: " ")
        return try Command.run(
            Programs.sshpass, ["-e", Programs.rsync, "-a", "-e", remoteShell, from, to],
            environment: environment(password: password), timeout: timeout)
    }
}
