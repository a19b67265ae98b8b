import ArgumentParser
import Foundation
import Proxy
import RouteStore

/// `switchboard route …`: manage the routing table, also while the proxy runs.
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Add, change, list and remove routes.",
        subcommands: [Add.self, List.self, Show.self, Set.self, Remove.self, Trust.self, Keygen.self, Explain.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Route a login name to an upstream host.")

        @Argument(help: ArgumentHelp(
            "The login name clients use at the gateway; '*' is the catch-all route for every login without one. With --match: the upstream address.",
            valueName: "LOGIN"))
        var user: String
        @Argument(help: ArgumentHelp("Upstream address; IPv6 in brackets, e.g. [::1]:22. Port defaults to 22.", valueName: "HOST[:PORT]"))
        var address: String?
        @Option(help: ArgumentHelp(
            "A regular expression: the route serves every login without a route of its own that it matches whole (give only HOST[:PORT] then); --upstream-user may use its groups ($1).",
            valueName: "REGEX"))
        var match: String?
        @Option(help: ArgumentHelp("A pattern route's place among the others: lower is tried first (default: after the last).", valueName: "N"))
        var priority: Int?
        @Option(help: ArgumentHelp("User name on the upstream host (default: the login name).", valueName: "NAME"))
        var upstreamUser: String?
        @OptionGroup var hostKey: HostKeyOptions
        @Option(help: ArgumentHelp("Private key to log in upstream with when the client uses a public key.", valueName: "PATH"))
        var identityFile: String?
        @Option(help: ArgumentHelp("Port forwarding allowed: all (default), local (-L/-D/-W), remote (-R) or none.", valueName: "POLICY"))
        var forwarding: String?
        @Option(help: ArgumentHelp("Record terminal sessions: on, off, or default (when serve has --record-dir).", valueName: "on|off|default"))
        var record: String?
        @OptionGroup var certificates: UpstreamAuthOptions
        @OptionGroup var access: AccessOptions
        @OptionGroup var dataDirectory: DataDirectoryOption

        func validate() throws {
            if match != nil && address != nil { throw ValidationError("with --match, give only HOST[:PORT]") }
            if match == nil && address == nil { throw ValidationError("give LOGIN HOST[:PORT], or --match REGEX HOST[:PORT]") }
            if match == nil && priority != nil { throw ValidationError("--priority is for pattern routes (--match)") }
        }

        func run() throws {
            try runReportingErrors {
                let form = RouteForm(
                    login: match == nil ? user : nil, upstream: address ?? user, match: match, priority: priority,
                    upstreamUser: upstreamUser, hostKey: hostKey.hostKey, hostKeyPolicy: hostKey.hostKeyPolicy,
                    identityFile: identityFile, forwarding: forwarding, record: record, upstreamAuth: certificates.upstreamAuth,
                    principal: certificates.principal, certTTL: certificates.certTtl, access: access.form)
                let route = try dataDirectory.openStore().add(try form.route())
                print("added route \(route.login) -> \(route.effectiveUpstreamUser)@\(route.upstreamAddress)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List all routes.")

        @Flag(help: "Print JSON instead of a table.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let routes = try dataDirectory.openStore().allRoutes()
                if json {
                    print(try RouteFormatting.json(routes.map(RouteRecord.init)))
                } else {
                    print(RouteFormatting.table(routes))
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one route.")

        @Argument(help: "The login name.") var user: String
        @Flag(help: "Print JSON instead of text.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                guard let route = try dataDirectory.openStore().route(for: user) else { throw RouteStoreError.routeNotFound(user) }
                print(json ? try RouteFormatting.json(RouteRecord(route)) : RouteFormatting.details(route))
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an existing route.")

        @Argument(help: "The login name.") var user: String
        @Option(help: ArgumentHelp("New upstream host (IPv6 with or without brackets).", valueName: "HOST")) var host: String?
        @Option(help: ArgumentHelp("New upstream port (1-65535).", valueName: "PORT")) var port: String?
        @Option(help: ArgumentHelp("New upstream user name.", valueName: "NAME")) var upstreamUser: String?
        @Flag(help: "Enable or disable the route (a disabled route refuses logins like a missing one).")
        var state: RouteState?
        @OptionGroup var hostKey: HostKeyOptions
        @Flag(help: "Remove the pinned upstream host key (the next login pins again under accept-new).")
        var forgetHostKey = false
        @Flag(help: "Use the proxy's default host key policy for this route.")
        var defaultHostKeyPolicy = false
        @Option(help: ArgumentHelp("Private key to log in upstream with when the client uses a public key.", valueName: "PATH"))
        var identityFile: String?
        @Flag(help: "Stop using a mapped private key for this route.")
        var clearIdentityFile = false
        @Option(help: ArgumentHelp("Port forwarding allowed: all, local (-L/-D/-W), remote (-R) or none.", valueName: "POLICY"))
        var forwarding: String?
        @Option(help: ArgumentHelp("Record terminal sessions: on, off, or default (when serve has --record-dir).", valueName: "on|off|default"))
        var record: String?
        @OptionGroup var certificates: UpstreamAuthOptions
        @OptionGroup var access: AccessOptions
        @Option(help: ArgumentHelp("A pattern route's new place: lower is tried first.", valueName: "N"))
        var priority: Int?
        @OptionGroup var dataDirectory: DataDirectoryOption

        func validate() throws {
            if clearIdentityFile && identityFile != nil {
                throw ValidationError("--clear-identity-file and --identity-file exclude each other")
            }
            if forgetHostKey && hostKey.hostKey != nil { throw ValidationError("--forget-host-key and --host-key exclude each other") }
            if defaultHostKeyPolicy && hostKey.hostKeyPolicy != nil {
                throw ValidationError("--default-host-key-policy and --host-key-policy exclude each other")
            }
        }

        func run() throws {
            try runReportingErrors {
                let form = RouteChangeForm(
                    host: host, port: port, upstreamUser: upstreamUser, enabled: state.map { $0 == .enable },
                    hostKey: hostKey.hostKey, forgetHostKey: forgetHostKey,
                    hostKeyPolicy: defaultHostKeyPolicy ? "default" : hostKey.hostKeyPolicy, identityFile: identityFile,
                    clearIdentityFile: clearIdentityFile, forwarding: forwarding, record: record,
                    upstreamAuth: certificates.upstreamAuth, principal: certificates.principal, certTTL: certificates.certTtl,
                    priority: priority, access: access.form)
                let route = try dataDirectory.openStore().update(login: user, with: try form.changes())
                print("updated route \(route.login) -> \(route.effectiveUpstreamUser)@\(route.upstreamAddress)\(route.enabled ? "" : " (disabled)")")
            }
        }
    }

    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect to a route's upstream once and pin the host key it presents.")

        @Argument(help: "The login name.") var user: String
        @Option(help: ArgumentHelp("Seconds allowed to reach the upstream.", valueName: "SECONDS"))
        var timeout = 10
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                let pinned = try RouteUpkeep.pinHostKey(of: user, in: store, timeoutSeconds: timeout) { changes in
                    try store.update(login: user, with: changes)
                }
                if let previous = pinned.previous { print("replaced pinned host key \(previous)") }
                guard let route = try store.route(for: user) else { throw RouteStoreError.routeNotFound(user) }
                print("pinned \(route.upstreamAddress) host key \(pinned.fingerprint) for route \(user)")
            }
        }
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an ed25519 key pair for a route and use it upstream; prints the public line to install.",
            discussion: """
                With SQLite the private key is a file in the data directory's route-keys folder. With a shared \
                database (--database) it is kept in the database, encrypted with the cluster secret \
                (--cluster-secret-file or $SWITCHBOARD_CLUSTER_SECRET), so every node can use it and no file is written.
                """)

        @Argument(help: "The login name.") var user: String
        @OptionGroup var secret: ClusterSecretOption
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                let key = try RouteUpkeep.createKey(
                    for: user, in: store, secret: try secret.load(for: store, purpose: "a route key"),
                    dataDirectory: dataDirectory.directory
                ) { changes in try store.update(login: user, with: changes) }
                let place = key.file.map { "created \($0)" } ?? "stored an encrypted key for \(user) in the database"
                FileHandle.standardError.write(Data("\(place); add this line to the upstream user's authorized_keys:\n".utf8))
                print(key.publicKey)
            }
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which route would serve a login, how it logs in upstream, and each access rule's verdict.",
            discussion: "The answer comes from the code logins use: run it when a user says \"it doesn't let me in\".")

        @Argument(help: "The login name a user types.") var user: String
        @Option(help: ArgumentHelp("The client's address, for --allow-from.", valueName: "ADDRESS")) var from: String?
        @Option(help: ArgumentHelp("Judge at this time instead of now (2026-12-01T21:00:00+01:00).", valueName: "TIME")) var at: String?
        @Flag(help: "Print JSON instead of text.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                try RouteExplanation.checkSource(from)
                let explanation = try RouteExplanation.explain(
                    login: user, from: from, at: try RouteExplanation.moment(at), store: dataDirectory.openStore())
                print(json ? try RouteFormatting.json(explanation) : RouteFormatting.explanation(explanation))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a route.")

        @Argument(help: "The login name.") var user: String
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                try dataDirectory.openStore().remove(login: user)
                print("removed route \(user)")
            }
        }
    }
}

/// The access rules on `route add` and `route set`; on `set`, the word in each help text turns a
/// rule off again.
struct AccessOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Client addresses or CIDR ranges logins may come from (IPv4 and IPv6); `any` turns it off.", valueName: "CIDR,…"))
    var allowFrom: String?
    @Option(help: ArgumentHelp(
        "Weekly windows logins are allowed in, e.g. 'Mon-Fri 08:00-19:00 Europe/Berlin'; several separated by ';'; `always` turns it off.",
        valueName: "WINDOWS"))
    var schedule: String?
    @Option(help: ArgumentHelp(
        "Whether live sessions end when the schedule's window ends, after a notice (on|off).", valueName: "on|off"))
    var scheduleEndsSessions: String?
    @Option(help: ArgumentHelp("Logins before this time are refused (2026-12-01, 2026-12-01T08:00:00+01:00); `none` turns it off.", valueName: "TIME"))
    var validFrom: String?
    @Option(help: ArgumentHelp("Logins from this time on are refused; `none` turns it off.", valueName: "TIME"))
    var validUntil: String?
    @Option(help: ArgumentHelp("Most sessions of this login at once, across every node; `none` turns it off.", valueName: "N"))
    var maxSessions: String?
    @Option(help: ArgumentHelp(
        "What sessions may use: shell, exec, sftp, subsystem:NAME, pty, agent, local-forward, remote-forward; `all` turns it off.",
        valueName: "KINDS"))
    var allow: String?

    /// The rules as the shared form that `route add`, `route set` and the admin API check.
    var form: AccessForm {
        AccessForm(
            allowFrom: allowFrom, schedule: schedule, scheduleEndsSessions: scheduleEndsSessions, validFrom: validFrom,
            validUntil: validUntil, maxSessions: maxSessions, allow: allow)
    }
}

/// `--upstream-auth`, `--principal` and `--cert-ttl` on `route add` and `route set`.
struct UpstreamAuthOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "How the proxy logs in upstream: password, key, agent, certificate, or automatic (password and key clients as before).",
        valueName: "METHOD"))
    var upstreamAuth: String?
    @Option(help: ArgumentHelp("The principal of upstream certificates (default: the upstream user).", valueName: "NAME"))
    var principal: String?
    @Option(help: ArgumentHelp("Seconds an upstream certificate stays valid (default 300).", valueName: "SECONDS"))
    var certTtl: Int?
}

/// `--enable` / `--disable` on `route set`.
enum RouteState: String, EnumerableFlag {
    case enable
    case disable
}

/// `--host-key` and `--host-key-policy` on `route add` and `route set`.
struct HostKeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Pin the upstream's host key, as `ssh-keygen -l` prints it.", valueName: "SHA256:..."))
    var hostKey: String?
    @Option(help: ArgumentHelp("strict, accept-new or off (default: the proxy's --host-key-policy).", valueName: "POLICY"))
    var hostKeyPolicy: String?
}
