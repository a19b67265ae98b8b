import Foundation
import Logging
import RouteStore

/// Every `serve` setting, in the order help texts, `--check-config` and the README list them.
/// To add a setting: declare it below, add it to `all`, read it where it is used
/// (`settings[.name]`), and run the test that compares the README table with this list.
public enum SettingsCatalog {
    public static let all: [any AnySetting] = [
        Setting<HostPort>.listen, Setting<String>.serverVersion, Setting<String?>.dataDir, Setting<Bool>.noRSAHostKey,
        Setting<Int>.loginGraceTime, Setting<Int>.maxAuthTries,
        Setting<Int>.upstreamConnectTimeout, Setting<HostKeyPolicy>.hostKeyPolicy, Setting<Bool>.unverifiedUpstreamCredentials,
        Setting<Int>.idleTimeout, Setting<Int>.scheduleNotice,
        Setting<Int>.drainTimeout, Setting<Int>.maxConnections, Setting<Int>.maxConnectionsPerSource,
        Setting<Int>.maxUnauthenticated, Setting<Int>.maxUnauthenticatedPerSource,
        Setting<Int>.maxUpstreamStartups, Setting<Int>.maxUpstreamStartupsPerSource,
        Setting<Int>.tcpKeepalive, Setting<Int>.banAfter, Setting<Int>.banWindow, Setting<Int>.banTime,
        Setting<Bool>.proxyProtocol, Setting<[AddressRange]>.trustedProxies, Setting<HostPort?>.metricsListen,
        Setting<HostPort?>.adminListen, Setting<String?>.adminTLSCertificate, Setting<String?>.adminTLSKey,
        Setting<String?>.recordDir, Setting<Bool>.recordInput, Setting<Int>.recordMaxFileSize, Setting<Int>.recordMaxTotalSize,
        Setting<Bool>.recordRequired, Setting<Logger.Level>.logLevel, Setting<LogFormat>.logFormat,
        Setting<String?>.database, Setting<String?>.clusterSecretFile, Setting<String?>.nodeName, Setting<Int>.nodeLostAfter,
        Setting<Int>.healthGrace, Setting<Int>.databaseOutageGrace, Setting<[AddressRange]>.certificateSourceAddresses,
    ]

    /// The setting named `name` (the file's key), if there is one.
    public static func named(_ name: String) -> (any AnySetting)? { all.first { $0.name == name } }
}

/// How log lines are written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// key=value metadata after the message.
    case text
    /// One JSON object per line.
    case json
}

extension Setting where Value == Int {
    public static var loginGraceTime: Self {
        .number("login_grace_time", default: 30, minimum: 1, valueName: "SECONDS", reload: .live,
                help: "seconds for key exchange plus login, per connection")
    }
    public static var maxAuthTries: Self {
        .number("max_auth_tries", default: 6, minimum: 1, valueName: "N", reload: .live,
                help: "failed login attempts per connection (key probes count, as in OpenSSH)")
    }
    public static var upstreamConnectTimeout: Self {
        .number("upstream_connect_timeout", default: 10, minimum: 1, valueName: "SECONDS", reload: .live,
                help: "seconds to reach an upstream and finish its SSH handshake")
    }
    public static var idleTimeout: Self {
        .number("idle_timeout", default: 0, minimum: 0, valueName: "SECONDS", reload: .live,
                help: "close a session after this many seconds without channel data either way (0: off)")
    }
    public static var scheduleNotice: Self {
        .number("schedule_notice", default: 300, minimum: 0, valueName: "SECONDS", reload: .live,
                help: "on routes with --schedule-ends-sessions, seconds before the schedule's window ends that open terminals are told when their session ends (0: no notice)")
    }
    public static var drainTimeout: Self {
        .number("drain_timeout", default: 30, minimum: 0, valueName: "SECONDS", reload: .live,
                help: "on SIGTERM/SIGINT, seconds running sessions may go on")
    }
    public static var maxConnections: Self {
        .number("max_connections", default: 4096, minimum: 1, valueName: "N", reload: .live,
                help: "connections served at once; more are refused at accept. Left at its default, it is lowered to what the descriptor limit (raised to its hard limit at start) can carry: (limit - 64) / 3")
    }
    public static var maxConnectionsPerSource: Self {
        .number("max_connections_per_source", default: 256, minimum: 0, valueName: "N", reload: .live,
                help: "connections served at once per client address (0: no limit)")
    }
    public static var maxUnauthenticated: Self {
        .number("max_unauthenticated", default: 256, minimum: 1, valueName: "N", reload: .live,
                help: "connections still in key exchange or login at once; more are refused at accept (like OpenSSH's MaxStartups)")
    }
    public static var maxUnauthenticatedPerSource: Self {
        .number("max_unauthenticated_per_source", default: 32, minimum: 0, valueName: "N", reload: .live,
                help: "the same per client address or IPv6 /64, so one source cannot fill the door or an upstream's MaxStartups (0: no limit)")
    }
    public static var maxUpstreamStartups: Self {
        .number("max_upstream_startups", default: 8, minimum: 0, valueName: "N", reload: .live,
                help: "the proxy's connections to one upstream host still logging in at once; more logins wait for a place, up to upstream_connect_timeout. Keep it below the upstream's MaxStartups (OpenSSH: 10) (0: no limit)")
    }
    public static var maxUpstreamStartupsPerSource: Self {
        .number("max_upstream_startups_per_source", default: 4, minimum: 0, valueName: "N", reload: .live,
                help: "of those, how many one client address or IPv6 /64 may hold, so one source cannot take them all (0: no limit)")
    }
    public static var recordMaxFileSize: Self {
        .number("record_max_file_size", default: 256, minimum: 1, valueName: "MiB", reload: .live,
                help: "a recording stops at this size, with a marker saying so")
    }
    public static var recordMaxTotalSize: Self {
        .number("record_max_total_size", default: 10240, minimum: 1, valueName: "MiB", reload: .live,
                help: "no new recording starts while the record directory's recordings add up to this much")
    }
    public static var tcpKeepalive: Self {
        .number("tcp_keepalive", default: 60, minimum: 0, valueName: "SECONDS", reload: .live,
                help: "TCP keepalive toward clients and upstreams: idle seconds before the kernel probes (every 15 s, 4 tries); dead peers end their session without waking the proxy (0: off)")
    }
    public static var banAfter: Self {
        .number("ban_after", default: 10, minimum: 0, valueName: "N", reload: .restart,
                help: "failed logins from one address within --ban-window that ban it for --ban-time (0: off)")
    }
    public static var banWindow: Self {
        .number("ban_window", default: 60, minimum: 1, valueName: "SECONDS", reload: .restart,
                help: "seconds within which --ban-after failures must happen")
    }
    public static var banTime: Self {
        .number("ban_time", default: 300, minimum: 1, valueName: "SECONDS", reload: .restart,
                help: "seconds a banned address's connections are refused")
    }

    public static var nodeLostAfter: Self {
        .number("node_lost_after", default: 15, minimum: 3, valueName: "SECONDS", reload: .restart,
                help: "a node whose heartbeat (every 2 s) is this old is lost: any other node closes its sessions in the audit (reason node-lost)")
    }
    public static var healthGrace: Self {
        .number("health_grace", default: 3, minimum: 0, valueName: "SECONDS", reload: .live,
                help: "on SIGTERM/SIGINT, with --metrics-listen, seconds `/healthz` answers 503 while new connections are still accepted, so a load balancer's checks move new clients to other nodes before this one stops accepting")
    }
    public static var databaseOutageGrace: Self {
        .number("database_outage_grace", default: 300, minimum: 0, valueName: "SECONDS", reload: .live,
                help: "while the database cannot be reached, logins use the route and key data read within this many seconds; after that they are refused as temporarily unavailable")
    }

    static func number(
        _ name: String, default value: Int, minimum: Int, valueName: String, reload: SettingReload, help: String
    ) -> Self {
        Setting(
            name, default: value, valueName: valueName, reload: reload, help: help,
            parse: { text in Int(text).map { .success($0) } ?? .failure(ProxyError(.configuration, "expected a whole number, got \"\(text)\"")) },
            check: { $0 >= minimum ? nil : "must be \(minimum == 0 ? "0 or more" : "at least \(minimum)")" },
            render: { String($0) })
    }
}

extension Setting where Value == Bool {
    public static var noRSAHostKey: Self {
        .toggle("no_rsa_host_key", reload: .restart,
                help: "offer clients only the ed25519 host key, not the RSA one: libssh copies each offered host key into every session, and the RSA copy costs about 2.5 KiB per session; clients that know no ed25519 cannot connect")
    }
    public static var proxyProtocol: Self {
        .toggle("proxy_protocol", reload: .restart,
                help: "require a PROXY protocol v1/v2 header, only from --trusted-proxies")
    }
    public static var unverifiedUpstreamCredentials: Self {
        .toggle("unverified_upstream_credentials", reload: .live,
                help: "where the host key policy is off, still send users' passwords, answers and agents to upstreams whose key was not checked")
    }
    public static var recordRequired: Self {
        .toggle("record_required", reload: .live,
                help: "with --record-dir, refuse a session whose audit record or recording cannot be written (or stops) instead of relaying it unrecorded")
    }
    public static var recordInput: Self {
        .toggle("record_input", reload: .live,
                help: "with --record-dir, also record what users type (passwords typed at prompts included)")
    }

    static func toggle(_ name: String, reload: SettingReload, help: String) -> Self {
        Setting(
            name, default: false, valueName: "BOOL", reload: reload, help: help, isSwitch: true,
            parse: { text in
                switch text.lowercased() {
                case "true", "1", "yes", "on": .success(true)
                case "false", "0", "no", "off": .success(false)
                default: .failure(ProxyError(.configuration, "expected true or false, got \"\(text)\""))
                }
            },
            render: { $0 ? "true" : "false" })
    }
}

extension Setting where Value == HostPort {
    public static var listen: Self {
        Setting(
            "listen", default: HostPort(host: "0.0.0.0", port: 2222), valueName: "HOST:PORT", reload: .restart,
            help: "address to listen on; `[::]:2222` for IPv6; port 0 picks a free port (logged)",
            parse: { listenAddress($0, defaultPort: 2222) }, render: \.description)
    }
}

extension Setting where Value == HostPort? {
    public static var metricsListen: Self {
        Setting(
            "metrics_listen", default: nil, valueName: "HOST:PORT", reload: .restart,
            help: "serve `/metrics` and `/healthz` over HTTP on this address (port 9222 if none is given)",
            defaultDescription: "off",
            parse: { listenAddress($0, defaultPort: 9222).map(Optional.some) }, render: { $0?.description })
    }
}

extension Setting where Value == HostPort? {
    public static var adminListen: Self {
        Setting(
            "admin_listen", default: nil, valueName: "HOST:PORT", reload: .restart,
            help: "serve the admin API (`/v1`, bearer tokens from `switchboard token create`) and the web console (`/console/`) on this address (port 9443 if none is given); plain HTTP only on a loopback address, anywhere else with admin_tls_certificate and admin_tls_key",
            defaultDescription: "off",
            parse: { listenAddress($0, defaultPort: 9443).map(Optional.some) }, render: { $0?.description })
    }
}

/// Reads a listen address; port 0 means any free port.
private func listenAddress(_ text: String, defaultPort: Int) -> Result<HostPort, ProxyError> {
    do {
        return .success(try HostPort(parsing: text, defaultPort: defaultPort, allowedPorts: 0...65535))
    } catch {
        return .failure(ProxyError(.configuration, error.description))
    }
}

extension Setting where Value == String {
    /// Clients tell servers apart by this line and adjust to OpenSSH's known behaviour only
    /// when it starts with `OpenSSH_` (asyncssh and WinSCP swap sftp SYMLINK's arguments as
    /// OpenSSH's sftp-server expects; the upstreams behind the proxy are nearly always
    /// OpenSSH, so that is right for them). 9.x is past every workaround for old OpenSSH
    /// versions in OpenSSH, PuTTY, paramiko and libssh2, and below 10, which paramiko's check
    /// for 7.7-and-older misreads. The comment part says what it really is.
    public static var serverVersion: Self {
        Setting(
            "server_version", default: "OpenSSH_9.9 Switchboard", valueName: "TEXT", reload: .restart,
            help: "what follows `SSH-2.0-` in the proxy's version line; starting with `OpenSSH_` makes sftp clients treat upstream OpenSSH sftp-servers right (see README)",
            parse: { text in
                let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard let software = parts.first, !software.isEmpty, !software.contains("-"),
                      text.count <= 200, text.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) })
                else {
                    return .failure(ProxyError(
                        .configuration, "\"\(text.prefix(40))\" is not a version: printable ASCII, at most 200 characters, the first word without \"-\""))
                }
                return .success(text)
            },
            render: { $0 })
    }
}

extension Setting where Value == String? {
    public static var dataDir: Self {
        .path("data_dir", reload: .restart, help: "database, host keys, route keys",
              defaultDescription: "`$SWITCHBOARD_DATA_DIR`, else `/var/lib/switchboard` for root, else `~/.local/share/switchboard`")
    }
    public static var recordDir: Self {
        .path("record_dir", reload: .live, help: "record terminal sessions as asciicast files in this directory",
              defaultDescription: "off")
    }

    public static var database: Self {
        Setting(
            "database", default: nil, valueName: "URL", reload: .restart,
            help: "PostgreSQL connection URI (`postgresql://user:password@host1,host2/db?sslmode=verify-full`) of a store shared by several nodes; routes, keys, pins, bans and the audit then live there",
            defaultDescription: "SQLite in the data directory",
            parse: { text in
                do {
                    _ = try StoreLocation(database: text, dataDirectory: DataDirectory(explicit: "/"), environment: [:])
                    return .success(text)
                } catch {
                    return .failure(ProxyError(.configuration, "\(error)"))
                }
            },
            render: { $0 })
    }
    public static var adminTLSCertificate: Self {
        Setting(
            "admin_tls_certificate", default: nil, valueName: "FILE", reload: .restart,
            help: "PEM certificate chain the admin listener presents (TLS 1.2 or later); needs admin_tls_key",
            defaultDescription: "plain HTTP",
            parse: { text in .success(URL(fileURLWithPath: text).standardizedFileURL.path) }, render: { $0 })
    }

    public static var adminTLSKey: Self {
        Setting(
            "admin_tls_key", default: nil, valueName: "FILE", reload: .restart,
            help: "PEM private key of admin_tls_certificate",
            defaultDescription: "plain HTTP",
            parse: { text in .success(URL(fileURLWithPath: text).standardizedFileURL.path) }, render: { $0 })
    }

    public static var clusterSecretFile: Self {
        Setting(
            "cluster_secret_file", default: nil, valueName: "FILE", reload: .restart,
            help: "file holding the cluster secret (mode 0600), which encrypts route keys kept in the shared database (`route keygen`); every node needs the same file",
            defaultDescription: "`$SWITCHBOARD_CLUSTER_SECRET`, else none",
            parse: { text in .success(URL(fileURLWithPath: text).standardizedFileURL.path) }, render: { $0 })
    }
    public static var nodeName: Self {
        Setting(
            "node_name", default: nil, valueName: "NAME", reload: .restart,
            help: "this node's name in `switchboard nodes` and `sessions`",
            defaultDescription: "the host name",
            parse: { text in
                guard !text.isEmpty, text.count <= 64, text.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
                    return .failure(ProxyError(.configuration, "a node name is 1 to 64 printable ASCII characters without spaces"))
                }
                return .success(text)
            },
            render: { $0 })
    }

    /// A directory, kept as an absolute path so a relative one means the same after a reload.
    static func path(_ name: String, reload: SettingReload, help: String, defaultDescription: String) -> Self {
        Setting(
            name, default: nil, valueName: "DIR", reload: reload, help: help, defaultDescription: defaultDescription,
            parse: { text in .success(URL(fileURLWithPath: text).standardizedFileURL.path) },
            render: { $0 })
    }
}

extension Setting where Value == [AddressRange] {
    public static var trustedProxies: Self {
        .addressRanges(
            "trusted_proxies", reload: .restart, what: "trusted proxy",
            help: "addresses or CIDR ranges of the load balancers allowed to send PROXY headers")
    }

    public static var certificateSourceAddresses: Self {
        .addressRanges(
            "certificate_source_addresses", reload: .live, what: "certificate source address",
            help: "the proxy's egress addresses or CIDR ranges, written into each upstream certificate as its source-address option")
    }

    /// A comma-separated list of addresses and CIDR ranges, empty by default.
    private static func addressRanges(_ name: String, reload: SettingReload, what: String, help: String) -> Self {
        Setting(
            name, default: [], valueName: "CIDR,…", reload: reload, help: help, defaultDescription: "none",
            parse: { text in
                var ranges: [AddressRange] = []
                for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                    guard let range = AddressRange(item) else {
                        return .failure(ProxyError(.configuration, "invalid \(what) \"\(item)\": expected an address or CIDR such as 10.0.0.0/8"))
                    }
                    ranges.append(range)
                }
                return .success(ranges)
            },
            render: { $0.isEmpty ? nil : $0.map(\.description).joined(separator: ",") })
    }
}

extension Setting where Value == HostKeyPolicy {
    public static var hostKeyPolicy: Self {
        Setting(
            "host_key_policy", default: .acceptNew, valueName: "POLICY", reload: .live,
            help: "upstream host key policy for routes without their own: strict, accept-new or off",
            parse: { enumeration($0, HostKeyPolicy.self) }, render: \.rawValue)
    }
}

extension Setting where Value == Logger.Level {
    public static var logLevel: Self {
        Setting(
            "log_level", default: .info, valueName: "LEVEL", reload: .live,
            help: "`trace`, `debug`, `info`, `notice`, `warning`, `error`, `critical`",
            parse: { enumeration($0, Logger.Level.self) }, render: \.rawValue)
    }
}

extension Setting where Value == LogFormat {
    public static var logFormat: Self {
        Setting(
            "log_format", default: .text, valueName: "FORMAT", reload: .restart,
            help: "`text` (key=value) or `json` (one object per line)",
            parse: { enumeration($0, LogFormat.self) }, render: \.rawValue)
    }
}

/// Reads one of an enumeration's raw values, naming them all when the text is none of them.
private func enumeration<Value: RawRepresentable & CaseIterable>(_ text: String, _ type: Value.Type) -> Result<Value, ProxyError>
where Value.RawValue == String {
    if let value = Value(rawValue: text) { return .success(value) }
    let names = Value.allCases.map(\.rawValue).joined(separator: ", ")
    return .failure(ProxyError(.configuration, "must be one of \(names), not \"\(text)\""))
}
