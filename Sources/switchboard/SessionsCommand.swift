import ArgumentParser
import Foundation
import Proxy
import RouteStore

/// `switchboard sessions`: the audit trail of sessions that logged in, and their recordings.
struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List audited sessions, show one, watch or end a running one, or replay its recording.",
        subcommands: [SessionList.self, SessionShow.self, SessionKill.self, SessionReplay.self, SessionWatchCommand.self],
        defaultSubcommand: SessionList.self
    )
}

/// `switchboard sessions [list]`.
struct SessionList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List audited sessions, newest first.")

    @Flag(help: "Only sessions still running.") var active = false
    @Option(help: ArgumentHelp("Only sessions running within this long ago, e.g. 30m, 2h, 7d.", valueName: "DURATION"))
    var since: String?
    @Option(help: ArgumentHelp("Only sessions of this login name.", valueName: "USER")) var user: String?
    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var dataDirectory: DataDirectoryOption

    func validate() throws {
        if let since, SessionControl.seconds(in: since) == nil {
            throw ValidationError("--since takes a number and a unit (s, m, h, d), e.g. 30m")
        }
    }

    func run() throws {
        try runReportingErrors {
            let filter = SessionFilter(
                activeOnly: active, since: since.flatMap(SessionControl.seconds(in:)).map { Date().addingTimeInterval(-$0) }, login: user)
            let records = try dataDirectory.openStore().sessions(matching: filter)
            print(json ? try RouteFormatting.json(records) : Self.table(records))
        }
    }


    static func table(_ records: [SessionRecord]) -> String {
        let dates = ISO8601DateFormatter()
        let header = ["ID", "NODE", "LOGIN", "CLIENT", "UPSTREAM", "AUTH", "STARTED", "ENDED", "IN", "OUT", "EXIT", "REASON"]
        let rows = records.map { record in
            [String(record.id), record.nodeName ?? "-", record.login, "\(record.clientAddress):\(record.clientPort)",
             "\(record.upstreamUser)@\(HostPort(host: record.upstreamHost, port: record.upstreamPort))",
             record.authMethod, dates.string(from: record.startedAt), record.endedAt.map(dates.string(from:)) ?? "active",
             String(record.bytesToUpstream), String(record.bytesToClient), record.exitStatus ?? "-", record.endReason ?? "-"]
        }
        return RouteFormatting.columns(header: header, rows: rows)
    }
}

/// Finds one audited session by id.
private func session(_ id: Int64, in dataDirectory: DataDirectoryOption) throws -> SessionRecord {
    guard let record = try dataDirectory.openStore().sessions(matching: SessionFilter(id: id)).first else {
        throw CommandFailure(description: "no session with id \(id)")
    }
    return record
}

/// `switchboard sessions show ID`.
struct SessionShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one session and its recording path.")

    @Argument(help: "The session's audit id.") var id: Int64
    @Flag(help: "Print JSON instead of text.") var json = false
    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() throws {
        try runReportingErrors {
            let record = try session(id, in: dataDirectory)
            if json {
                print(try RouteFormatting.json(record))
                return
            }
            let dates = ISO8601DateFormatter()
            print("""
                id:         \(record.id)
                login:      \(record.login) (\(record.authMethod)) from \(record.clientAddress):\(record.clientPort)
                upstream:   \(record.upstreamUser)@\(HostPort(host: record.upstreamHost, port: record.upstreamPort))
                started:    \(dates.string(from: record.startedAt))
                ended:      \(record.endedAt.map(dates.string(from:)) ?? "still running")
                bytes:      \(record.bytesToUpstream) to upstream, \(record.bytesToClient) to client
                exit:       \(record.exitStatus ?? "-") (\(record.endReason ?? "-"))
                node:       \(record.nodeName.map { "\($0) (\(record.nodeID ?? "?"))" } ?? "-")
                recording:  \(record.recordingPath ?? "none")
                """)
        }
    }
}

/// `switchboard sessions kill ID`: the node holding the session ends it (PostgreSQL tells it at
/// once with NOTIFY; every node also looks each second), and this waits to see it end.
struct SessionKill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "End a running session, on whichever node holds it.")

    @Argument(help: "The session's audit id.") var id: Int64
    @Option(help: ArgumentHelp("Seconds to wait for the session to end.", valueName: "SECONDS")) var wait = 10.0
    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() throws {
        try runReportingErrors {
            let store = try dataDirectory.openStore()
            let started = Date()
            let request = try store.requestKill(sessionID: id)
            let node = request.nodeName ?? "an unknown node"
            if let record = try SessionControl.waitForEnd(of: id, in: store, seconds: wait) {
                let milliseconds = Int(Date().timeIntervalSince(started) * 1000)
                print("session \(id) on \(node) ended (\(record.endReason ?? "-")) after \(milliseconds) ms")
                return
            }
            throw CommandFailure(description: "asked \(node) to end session \(id), but it was still running after \(wait) s")
        }
    }
}

/// `switchboard sessions replay ID`: plays an asciicast recording in this terminal.
struct SessionReplay: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Play a session's recording in the terminal.")

    @Argument(help: "The session's audit id.") var id: Int64
    @Option(help: ArgumentHelp("Playback speed: 1 is real time, 2 twice as fast.", valueName: "FACTOR")) var speed = 1.0
    @Option(help: ArgumentHelp("Longest pause kept, in seconds.", valueName: "SECONDS")) var maxWait = 2.0
    @OptionGroup var dataDirectory: DataDirectoryOption

    func validate() throws {
        guard speed > 0, maxWait >= 0 else { throw ValidationError("--speed must be above 0 and --max-wait 0 or more") }
    }

    func run() throws {
        try runReportingErrors {
            guard let path = try session(id, in: dataDirectory).recordingPath else {
                throw CommandFailure(description: "session \(id) has no recording")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CommandFailure(description: "cannot read \(path)")
            }
            var previous = 0.0
            var safe = ReplayFilter()
            for line in text.split(separator: "\n").dropFirst() {
                guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [Any], event.count == 3,
                      let time = (event[0] as? NSNumber)?.doubleValue, event[1] as? String == "o", let data = event[2] as? String
                else { continue }
                Thread.sleep(forTimeInterval: min(max(time - previous, 0), maxWait) / speed)
                previous = time
                FileHandle.standardOutput.write(Data(safe.filter(data).utf8))
            }
        }
    }
}

/// `switchboard sessions watch ID`: shows a live terminal session as it happens, read-only,
/// from the proxy process on this machine that relays it (through its control socket).
struct SessionWatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch a live terminal session as it happens (read-only); Ctrl-C stops watching.",
        discussion: "Run it on the machine whose proxy holds the session; in a cluster, `sessions show ID` names the node.")

    @Argument(help: "The session's audit id.") var id: Int64
    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() throws {
        try runReportingErrors {
            var safe = ReplayFilter()
            let reason = try LocalWatchClient.watch(sessionID: id, dataDirectory: dataDirectory.directory) { event in
                switch event {
                case .started(let columns, let rows):
                    FileHandle.standardError.write(Data("watching session \(id) (\(columns)x\(rows)); Ctrl-C stops\r\n".utf8))
                case .output(let text):
                    FileHandle.standardOutput.write(Data(safe.filter(text).utf8))
                case .resized(let columns, let rows):
                    FileHandle.standardError.write(Data("\r\n[terminal resized to \(columns)x\(rows)]\r\n".utf8))
                }
            }
            let why = reason == "too-slow" ? "this terminal fell too far behind and was dropped" : "the session ended"
            FileHandle.standardError.write(Data("\r\n[stopped watching session \(id): \(why)]\n".utf8))
        }
    }
}
