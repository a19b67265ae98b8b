import ArgumentParser
import Foundation
import RouteStore

/// `switchboard sessions`: the audit trail of sessions that logged in.
struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List audited sessions, newest first."
    )

    @Flag(help: "Only sessions still running.") var active = false
    @Option(help: ArgumentHelp("Only sessions running within this long ago, e.g. 30m, 2h, 7d.", valueName: "DURATION"))
    var since: String?
    @Option(help: ArgumentHelp("Only sessions of this login name.", valueName: "USER")) var user: String?
    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var dataDirectory: DataDirectoryOption

    func validate() throws {
        if let since, SessionsCommand.seconds(in: since) == nil {
            throw ValidationError("--since takes a number and a unit (s, m, h, d), e.g. 30m")
        }
    }

    func run() throws {
        try runReportingErrors {
            let filter = SessionFilter(
                activeOnly: active, since: since.flatMap(Self.seconds(in:)).map { Date().addingTimeInterval(-$0) }, login: user)
            let records = try dataDirectory.openStore().sessions(matching: filter)
            print(json ? try RouteFormatting.json(records) : Self.table(records))
        }
    }

    /// "90s", "30m", "2h", "7d" in seconds.
    static func seconds(in text: String) -> TimeInterval? {
        guard let unit = text.last, let number = Double(text.dropLast()), number >= 0 else { return nil }
        switch unit {
        case "s": return number
        case "m": return number * 60
        case "h": return number * 3600
        case "d": return number * 86400
        default: return nil
        }
    }

    static func table(_ records: [SessionRecord]) -> String {
        let dates = ISO8601DateFormatter()
        let header = ["ID", "LOGIN", "CLIENT", "UPSTREAM", "AUTH", "STARTED", "ENDED", "IN", "OUT", "EXIT", "REASON"]
        let rows = records.map { record in
            [String(record.id), record.login, "\(record.clientAddress):\(record.clientPort)",
             "\(record.upstreamUser)@\(UpstreamAddress(host: record.upstreamHost, port: record.upstreamPort))",
             record.authMethod, dates.string(from: record.startedAt), record.endedAt.map(dates.string(from:)) ?? "active",
             String(record.bytesToUpstream), String(record.bytesToClient), record.exitStatus ?? "-", record.endReason ?? "-"]
        }
        return RouteFormatting.columns(header: header, rows: rows)
    }
}
