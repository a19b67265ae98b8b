import ArgumentParser
import Proxy

/// `switchboard hostkey show`: the fingerprints users should see on first connection.
struct HostKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostkey",
        abstract: "Inspect the proxy's own host keys.",
        subcommands: [Show.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the SHA256 fingerprints of the proxy's host keys (generating missing keys).")

        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            for key in try ProxyHostKeys.loadOrGenerate(in: dataDirectory.directory) {
                print("\(key.typeName) \(key.fingerprint) \(key.path)")
            }
        }
    }
}
