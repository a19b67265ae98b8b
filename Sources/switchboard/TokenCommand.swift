import ArgumentParser
import Foundation
import Proxy
import RouteStore

/// `switchboard token …`: the bearer tokens of the admin API (`serve --admin-listen`).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke the admin API's bearer tokens.",
        subcommands: [Create.self, List.self, Revoke.self, Changes.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it once; the store keeps only its hash.")

        @Option(help: ArgumentHelp("Who the token is for; the record of API changes shows it.", valueName: "NAME"))
        var name: String
        @Flag(help: "The token may read but not change anything.") var readOnly = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let secret = AdminTokenSecret.generate()
                let token = try dataDirectory.openStore().addAdminToken(
                    name: name, tokenHash: AdminTokenSecret.hash(secret), readOnly: readOnly)
                FileHandle.standardError.write(Data(
                    "created \(token.readOnly ? "read-only " : "")token \(token.name); it is shown only now:\n".utf8))
                print(secret)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens, revoked ones too.")

        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let tokens = try dataDirectory.openStore().adminTokens()
                if json {
                    print(try RouteFormatting.json(tokens))
                    return
                }
                let dates = ISO8601DateFormatter()
                let rows = tokens.map { token in
                    [token.name, token.readOnly ? "read-only" : "read-write", dates.string(from: token.createdAt),
                     token.lastUsedAt.map(dates.string(from:)) ?? "never", token.revokedAt.map { "revoked \(dates.string(from: $0))" } ?? "active"]
                }
                print(RouteFormatting.columns(header: ["NAME", "RIGHTS", "CREATED", "LAST USED", "STATE"], rows: rows))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: it is refused from the next request on.")

        @Argument(help: "The token's name.") var name: String
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let token = try dataDirectory.openStore().revokeAdminToken(name: name)
                print("revoked token \(token.name)")
            }
        }
    }

    struct Changes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the changes made through the admin API: which token, what, when.")

        @Option(help: ArgumentHelp("How many of the newest to show.", valueName: "N")) var limit = 50
        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let changes = try dataDirectory.openStore().adminChanges(limit: limit)
                if json {
                    print(try RouteFormatting.json(changes))
                    return
                }
                let dates = ISO8601DateFormatter()
                let rows = changes.map { [dates.string(from: $0.at), $0.token, $0.action, $0.target, String($0.detail.prefix(80))] }
                print(RouteFormatting.columns(header: ["WHEN", "TOKEN", "ACTION", "TARGET", "DETAIL"], rows: rows))
            }
        }
    }
}
