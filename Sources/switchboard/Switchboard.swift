import ArgumentParser
import Foundation
import Proxy
import RouteStore

/// The single executable: the proxy (`serve`) and the admin commands.
@main
struct Switchboard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A username-routing SSH reverse proxy.",
        discussion: """
            Clients log in with `ssh USER@gateway -p 2222`; Switchboard looks USER up in its routing \
            table and relays the session to that user's upstream host.
            """,
        subcommands: [
            Serve.self, RouteCommand.self, KeyCommand.self, HostKeyCommand.self, SessionsCommand.self, NodesCommand.self,
            CACommand.self, TokenCommand.self,
        ]
    )
}

/// `--data-dir` and `--database`, shared by every command.
struct DataDirectoryOption: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: ArgumentHelp(
            "Directory holding the routing database and host keys.",
            discussion: "Default: \(Setting<String?>.dataDir.defaultText.replacingOccurrences(of: "`", with: "")).",
            valueName: "DIR"))
    var path: String?
    @Option(
        help: ArgumentHelp(
            "PostgreSQL URL of a store shared by several nodes (postgresql://user:password@host/db).",
            discussion: "Default: $SWITCHBOARD_DATABASE, else SQLite in the data directory.", valueName: "URL"))
    var database: String?

    var directory: DataDirectory { DataDirectory(explicit: path) }

    /// The store these options name.
    var location: StoreLocation {
        get throws { try StoreLocation(database: database, dataDirectory: directory) }
    }

    /// Opens (and migrates) the store: PostgreSQL if a database is named, else SQLite in the
    /// chosen data directory.
    func openStore() throws -> SQLRouteStore {
        try SQLRouteStore(location: location)
    }
}

/// Turns a store error into a clear message and a non-zero exit, without a stack of noise.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as RouteStoreError {
        throw CommandFailure(description: error.description)
    } catch let error as CustomStringConvertible & Error {
        throw CommandFailure(description: error.description)
    }
}
