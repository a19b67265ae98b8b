import ArgumentParser
import Foundation
import RouteStore

/// `switchboard nodes`: the Switchboard processes using this store, and whether they are alive.
struct NodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the nodes using this store: state, heartbeat age, version, address, sessions.",
        discussion: "Stopped and lost nodes stay listed for a day.")

    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var dataDirectory: DataDirectoryOption

    func run() throws {
        try runReportingErrors {
            let nodes = try dataDirectory.openStore().nodes()
            if json {
                print(try RouteFormatting.json(nodes))
                return
            }
            let dates = ISO8601DateFormatter()
            let header = ["NAME", "STATE", "HEARTBEAT", "VERSION", "ADDRESS", "SESSIONS", "STARTED", "ID"]
            let rows = nodes.map { node in
                [node.name, node.state.rawValue, String(format: "%.1fs ago", node.heartbeatAge), node.version, node.address,
                 String(node.activeSessions), dates.string(from: node.startedAt), node.id]
            }
            print(RouteFormatting.columns(header: header, rows: rows))
        }
    }
}
