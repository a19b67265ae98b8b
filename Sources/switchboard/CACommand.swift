import ArgumentParser
import Foundation
import Proxy
import RouteStore
import SSH

/// `switchboard ca …`: the proxy's own user-signing CA (for upstream certificates) and the
/// client CAs whose certificates log clients in.
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Manage the proxy's certificate authority and the client CAs it trusts.",
        discussion: """
            Routes with `--upstream-auth certificate` log in upstream with a short-lived certificate that the \
            proxy's CA signs for each login; upstreams trust it with TrustedUserCAKeys (`ca show`). Clients \
            whose certificates a trusted client CA signed (`ca trust-client`) log in without a listed key.
            """,
        subcommands: [
            Init.self, Show.self, Rotate.self, Retire.self, TrustClient.self, List.self, UntrustClient.self, Revoke.self, SignDemo.self,
        ]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the proxy's user-signing CA (ed25519) and print the line upstreams trust.")

        @OptionGroup var secret: ClusterSecretOption
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                guard try store.activeSigningAuthorities().isEmpty else {
                    throw RouteStoreError.authorityExists("the proxy already has a signing CA; use `switchboard ca rotate` to replace it")
                }
                let authority = try makeAuthority(store, dataDirectory, secret, record: store.addFirstSigningAuthority)
                FileHandle.standardError.write(Data("""
                    created the user-signing CA \(authority.fingerprint)\(authority.keyFile.map { " in \($0)" } ?? " (kept in the database, encrypted)").
                    Put this line in each upstream's TrustedUserCAKeys file:

                    """.utf8))
                print(authority.publicKey)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every CA upstreams should trust (TrustedUserCAKeys lines, with comments).")

        @Flag(help: "Print JSON instead of text.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let authorities = try dataDirectory.openStore().activeSigningAuthorities()
                guard !authorities.isEmpty else { throw RouteStoreError.invalidAuthority("the proxy has no CA yet; run `switchboard ca init`") }
                if json {
                    print(try RouteFormatting.json(authorities.map(SigningAuthorityRecord.init)))
                    return
                }
                for authority in authorities {
                    let role = authority.state == .signing
                        ? "signs upstream certificates now"
                        : "next CA: trust it on every upstream, then run `switchboard ca retire`"
                    print("# \(authority.fingerprint) \(role)")
                    print(authority.publicKey)
                }
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the next CA; the current one keeps signing until `ca retire`.",
            discussion: "Add the new line from `ca show` to every upstream's TrustedUserCAKeys, then run `ca retire`.")

        @OptionGroup var secret: ClusterSecretOption
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                let authority = try makeAuthority(store, dataDirectory, secret, record: store.addNextSigningAuthority)
                FileHandle.standardError.write(Data("""
                    created the next CA \(authority.fingerprint); the current one keeps signing. Add this line to every \
                    upstream's TrustedUserCAKeys, then run `switchboard ca retire`:

                    """.utf8))
                print(authority.publicKey)
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire the signing CA: the next one (from `ca rotate`) signs from now on.")

        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let (retired, signing) = try dataDirectory.openStore().retireSigningAuthority()
                SigningAuthorityKeys.forget(retired)
                print("retired \(retired.fingerprint); \(signing.fingerprint) signs from now on")
                FileHandle.standardError.write(Data("remove the retired line from the upstreams' TrustedUserCAKeys\n".utf8))
            }
        }
    }

    struct TrustClient: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trust-client",
            abstract: "Trust a CA's user certificates for client logins.",
            discussion: """
                A client whose certificate this CA signed, valid now, with the login name among its principals, logs in \
                without a listed key. Critical options other than source-address refuse the certificate.
                """)

        @Argument(help: ArgumentHelp("The CA's public key file (ssh-keygen's CA.pub).", valueName: "FILE.pub"))
        var file: String
        @Option(help: ArgumentHelp("A name for the CA (default: the file name without .pub).", valueName: "NAME"))
        var name: String?
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw RouteStoreError.invalidAuthority("\(file): cannot be read")
                }
                let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && !$0.hasPrefix("#") }
                guard lines.count == 1 else {
                    throw RouteStoreError.invalidAuthority("\(file): expected one public key line, found \(lines.count)")
                }
                let key: PublicKey
                do throws(SSHError) {
                    key = try PublicKey(authorizedKeysLine: lines[0])
                } catch {
                    throw RouteStoreError.invalidAuthority("\(file): \(error.message)")
                }
                let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                let authority = TrustedClientAuthority(
                    name: name ?? stem, keyType: key.typeName, keyBase64: key.base64, fingerprint: key.fingerprint)
                try dataDirectory.openStore().trustClientAuthority(authority)
                print("trusting client CA \(authority.name) (\(key.typeName) \(key.fingerprint))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the signing CAs, the trusted client CAs and the revocations.")

        @Flag(help: "Print JSON instead of text.") var json = false
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                let signing = try store.allSigningAuthorities()
                let clients = try store.trustedClientAuthorities()
                let revocations = try store.revocations()
                if json {
                    print(try RouteFormatting.json(CertificateAuthoritiesRecord(
                        signing: signing.map(SigningAuthorityRecord.init), trustedClients: clients.map(TrustedClientRecord.init),
                        revocations: revocations.map(RevocationRecord.init))))
                    return
                }
                print("signing CAs (upstream certificates):")
                print(signing.isEmpty ? "  none (run `switchboard ca init`)" : RouteFormatting.columns(
                    header: ["  STATE", "FINGERPRINT", "CREATED"],
                    rows: signing.map { ["  " + $0.state.rawValue, $0.fingerprint, RouteFormatting.date($0.createdAt)] }))
                print("\ntrusted client CAs:")
                print(clients.isEmpty ? "  none" : RouteFormatting.columns(
                    header: ["  NAME", "TYPE", "FINGERPRINT"], rows: clients.map { ["  " + $0.name, $0.keyType, $0.fingerprint] }))
                print("\nrevoked client certificates:")
                print(revocations.isEmpty ? "  none" : RouteFormatting.columns(
                    header: ["  ID", "CA", "REVOKED"], rows: revocations.map { ["  \($0.id)", $0.authority ?? "(any)", RevocationRecord($0).described] }))
            }
        }
    }

    struct UntrustClient: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "untrust-client", abstract: "Stop trusting a client CA (its revocations go too).")

        @Argument(help: "The CA's name, as `ca list` shows it.") var name: String
        @OptionGroup var dataDirectory: DataDirectoryOption

        func run() throws {
            try runReportingErrors {
                try dataDirectory.openStore().untrustClientAuthority(named: name)
                print("no longer trusting client CA \(name)")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke client certificates by serial or key id (takes effect at the next login).")

        @Option(help: ArgumentHelp("The certificate's serial (ssh-keygen -z).", valueName: "N")) var serial: UInt64?
        @Option(help: ArgumentHelp("The certificate's key id (ssh-keygen -I).", valueName: "ID")) var keyId: String?
        @Option(help: ArgumentHelp("Only for this client CA (default: every trusted client CA).", valueName: "NAME")) var ca: String?
        @OptionGroup var dataDirectory: DataDirectoryOption

        func validate() throws {
            guard (serial == nil) != (keyId == nil) else { throw ValidationError("give exactly one of --serial and --key-id") }
        }

        func run() throws {
            try runReportingErrors {
                let match: CertificateRevocation.Match = if let serial { .serial(serial) } else { .keyID(keyId ?? "") }
                let stored = try dataDirectory.openStore().revoke(CertificateRevocation(authority: ca, match: match))
                print("revoked \(RevocationRecord(stored).described) for \(ca.map { "client CA \($0)" } ?? "every client CA") (revocation \(stored.id))")
            }
        }
    }

    struct SignDemo: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-demo",
            abstract: "Print the certificate a login on a route would get, for a public key you give.",
            discussion: """
                For checking the CA and an upstream's configuration: `ssh-keygen -L -f` reads the output, and \
                `ssh -i KEY -o CertificateFile=CERT` logs in with it directly. The certificate is as short-lived as a \
                login's.
                """)

        @Option(help: ArgumentHelp("Make it as for this route's logins (principal, lifetime, extensions).", valueName: "LOGIN"))
        var route: String?
        @Option(help: ArgumentHelp("The principal (default: the route's; required without --route).", valueName: "NAME"))
        var principal: String?
        @Option(help: ArgumentHelp("The ed25519 public key to certify.", valueName: "FILE.pub"))
        var publicKey: String
        @Option(help: ArgumentHelp("Egress addresses to write as source-address.", valueName: "CIDR,…"))
        var sourceAddresses: String?
        @OptionGroup var secret: ClusterSecretOption
        @OptionGroup var dataDirectory: DataDirectoryOption

        func validate() throws {
            guard route != nil || principal != nil else { throw ValidationError("give --route or --principal") }
        }

        func run() throws {
            try runReportingErrors {
                let store = try dataDirectory.openStore()
                guard let authority = try store.signingAuthority() else {
                    throw RouteStoreError.invalidAuthority("the proxy has no CA yet; run `switchboard ca init`")
                }
                var target: Route
                if let route {
                    guard let found = try store.route(for: route) else { throw RouteStoreError.routeNotFound(route) }
                    target = found
                } else {
                    target = Route(login: "sign-demo", upstreamHost: "localhost")
                }
                if let principal { target.certificatePrincipal = try RouteValidation.certificatePrincipal(principal) }
                guard let text = try? String(contentsOfFile: publicKey, encoding: .utf8) else {
                    throw CommandFailure(description: "\(publicKey): cannot be read")
                }
                let key = try PublicKey(authorizedKeysLine: text.trimmingCharacters(in: .whitespacesAndNewlines))
                var ranges: [AddressRange] = []
                for item in (sourceAddresses ?? "").split(separator: ",") {
                    guard let range = AddressRange(String(item)) else { throw CommandFailure(description: "invalid address or CIDR \"\(item)\"") }
                    ranges.append(range)
                }
                print(try SigningAuthorityKeys.demonstrationCertificate(
                    for: target, publicKey: key, authority: authority, secret: try secret.load(for: store, purpose: "the CA key"),
                    sourceAddresses: ranges))
            }
        }
    }
}

/// Makes a CA key and records it with `record`; a key the store refuses is deleted again.
private func makeAuthority(
    _ store: SQLRouteStore, _ dataDirectory: DataDirectoryOption, _ secret: ClusterSecretOption,
    record: (SigningAuthority) throws(RouteStoreError) -> SigningAuthority
) throws -> SigningAuthority {
    let made = try SigningAuthorityKeys.create(in: dataDirectory.directory, sharedWith: try secret.load(for: store, purpose: "the CA key"))
    do {
        return try record(made)
    } catch {
        SigningAuthorityKeys.forget(made)
        throw error
    }
}

/// `--cluster-secret-file`, for commands that make or open keys kept in a shared database.
struct ClusterSecretOption: ParsableArguments {
    @Option(help: ArgumentHelp("File holding the cluster secret (with --database).", valueName: "FILE"))
    var clusterSecretFile: String?

    /// The cluster secret when `store` is shared (required then), nil for a SQLite store.
    func load(for store: SQLRouteStore, purpose: String) throws -> ClusterSecret? {
        guard store.isShared else { return nil }
        guard let secret = try ClusterSecret.load(file: clusterSecretFile) else {
            throw CommandFailure(description: """
                \(purpose) in a shared database is encrypted with the cluster secret: give --cluster-secret-file \
                or set \(ClusterSecret.environmentVariable) (the same secret the nodes use)
                """)
        }
        return secret
    }
}

/// The JSON shape of a signing CA (`ca show --json`, `ca list --json`).
struct SigningAuthorityRecord: Encodable {
    let fingerprint: String
    let publicKey: String
    let state: String
    let keyFile: String?
    let keptInDatabase: Bool
    let createdAt: Date
    let retiredAt: Date?

    init(_ authority: SigningAuthority) {
        fingerprint = authority.fingerprint
        publicKey = authority.publicKey
        state = authority.state.rawValue
        keyFile = authority.keyFile
        keptInDatabase = authority.encryptedKey != nil
        createdAt = authority.createdAt
        retiredAt = authority.retiredAt
    }
}

struct TrustedClientRecord: Encodable {
    let name: String
    let publicKey: String
    let fingerprint: String
    let createdAt: Date

    init(_ authority: TrustedClientAuthority) {
        name = authority.name
        publicKey = authority.publicKeyLine
        fingerprint = authority.fingerprint
        createdAt = authority.createdAt
    }
}

struct RevocationRecord: Encodable {
    let id: Int64
    let ca: String?
    let serial: String?
    let keyId: String?
    let createdAt: Date

    init(_ revocation: CertificateRevocation) {
        id = revocation.id
        ca = revocation.authority
        switch revocation.match {
        case .serial(let value):
            serial = String(value)
            keyId = nil
        case .keyID(let value):
            serial = nil
            keyId = value
        }
        createdAt = revocation.createdAt
    }

    var described: String { serial.map { "serial \($0)" } ?? "key id \"\(keyId ?? "")\"" }
}

struct CertificateAuthoritiesRecord: Encodable {
    let signing: [SigningAuthorityRecord]
    let trustedClients: [TrustedClientRecord]
    let revocations: [RevocationRecord]
}
