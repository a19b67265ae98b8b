import ArgumentParser
import Foundation
import Proxy
import RouteStore

/// `switchboard key …`: the public keys clients may log in with, per route.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Add, list and remove the public keys clients log in with.",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Allow public keys (authorized_keys lines) to log in to a route.")

        @Argument(help: "The login name.") var user: String
        @Argument(help: ArgumentHelp("A file of authorized_keys lines, or - for standard input.", valueName: "FILE|-"))
        var file: String
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let text: String
                if file == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    guard let data = FileManager.default.contents(atPath: file) else {
                        throw CommandFailure(description: "cannot read \(file)")
                    }
                    text = String(decoding: data, as: UTF8.self)
                }
                let keys = try Credentials.clientKeys(fromAuthorizedKeys: text, for: user)
                try dataDirectory.openStore().addKeys(keys, to: user)
                for key in keys { print("added \(key.keyType) \(key.fingerprint) \(key.comment)") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a route's keys.")

        @Argument(help: "The login name.") var user: String
        @Flag(help: "Print JSON instead of text.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                guard try store.route(for: user) != nil else { throw RouteStoreError.routeNotFound(user) }
                let keys = try store.keys(for: user)
                if json {
                    print(try RouteFormatting.json(keys.map(KeyRecord.init)))
                } else {
                    for key in keys { print("\(key.keyType) \(key.fingerprint) \(key.comment)") }
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key from a route.")

        @Argument(help: "The login name.") var user: String
        @Argument(help: ArgumentHelp("The key's fingerprint as `key list` shows it.", valueName: "SHA256:..."))
        var fingerprint: String
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                try dataDirectory.openStore().removeKey(fingerprint, from: user)
                print("removed \(fingerprint) from \(user)")
            }
        }
    }
}
