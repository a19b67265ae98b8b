import Foundation

/// A real OpenSSH `sshd` on loopback with its own config, host key and a marker
/// (`SWITCHBOARD_UPSTREAM` in the session environment) that tells tests which host they reached.
final class UpstreamServer {
    let name: String
    let port: Int
    let directory: URL
    private var daemon: RunningCommand?
    /// Keeps the directory (host private key, config, log) until `stop`.
    private var directoryHold: TemporaryPath?

    /// How the daemon lets users in.
    enum Authentication {
        /// Passwords and keys, checked by sshd itself.
        case passwordAndKeys
        /// Only keyboard-interactive through PAM (the way OTP setups look).
        case keyboardInteractiveViaPAM

        var sshdOptions: [String] {
            switch self {
            case .passwordAndKeys:
                ["UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes"]
            case .keyboardInteractiveViaPAM:
                ["UsePAM yes", "PasswordAuthentication no", "KbdInteractiveAuthentication yes", "PubkeyAuthentication no",
                 "AuthenticationMethods keyboard-interactive"]
            }
        }
    }

    /// `extraConfig` lines go into its sshd_config (e.g. "MaxAuthTries 2").
    init(name: String, authentication: Authentication = .passwordAndKeys, extraConfig: [String] = []) throws {
        self.name = name
        let hold = try TemporaryPath(prefix: "sb-upstream-\(name)", create: true)
        directory = hold.url
        directoryHold = hold
        port = try FreePort.pick()
        let hostKey = directory.appendingPathComponent("ssh_host_ed25519_key").path
        let keygen = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
        guard keygen.status == 0 else { throw HarnessError("ssh-keygen failed: \(keygen.err)") }
        // sshd keeps the first value it reads of most keywords but the last of some
        // (MaxStartups), so a default is left out when the test gives its own.
        let defaults = authentication.sshdOptions + [
            "MaxStartups 200",
            "MaxSessions 50",
            "LogLevel VERBOSE",
            "AcceptEnv LANG LC_* SB_*",
            "SetEnv SWITCHBOARD_UPSTREAM=\(name)",
        ]
        let keyword = { (line: String) in line.split(separator: " ").first.map { $0.lowercased() } }
        let given = Set(extraConfig.compactMap(keyword))
        let extra = extraConfig + defaults.filter { !given.contains(keyword($0) ?? "") }
        let config = try SSHDConfigTemplate.render([
            "port": String(port),
            "listen": "127.0.0.1",
            "host_key": hostKey,
            "pid_file": directory.appendingPathComponent("sshd.pid").path,
            "extra": extra.joined(separator: "\n"),
        ])
        try config.write(to: directory.appendingPathComponent("sshd_config"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        try start()
    }

    /// The upstream's host key fingerprint as `ssh-keygen -l` prints it.
    func hostKeyFingerprint() throws -> String {
        let result = try Command.run("/usr/bin/ssh-keygen", ["-l", "-f", directory.appendingPathComponent("ssh_host_ed25519_key.pub").path])
        let fields = result.out.split(separator: " ")
        guard result.status == 0, fields.count > 1 else { throw HarnessError("ssh-keygen -l failed: \(result.err)") }
        return String(fields[1])
    }

    /// Starts (or restarts) the daemon and waits until it accepts connections; not after `stop`.
    func start() throws {
        guard directoryHold != nil else { throw HarnessError("upstream \(name) was stopped and its directory deleted") }
        let configPath = directory.appendingPathComponent("sshd_config").path
        daemon = try Command.start("/usr/sbin/sshd", ["-D", "-f", configPath, "-E", directory.appendingPathComponent("sshd.log").path])
        try FreePort.waitUntilListening(port: port, timeout: 10)
    }

    /// Stops the daemon and every session process it started, and deletes its directory (host
    /// private key, config, log).
    func stop() {
        daemon?.terminate()
        daemon = nil
        directoryHold = nil
    }

    deinit { stop() }
}

/// scripts/sshd_config.template, the sshd_config shared with the benchmark and the netns lab.
/// It is rendered the way Python's str.format renders it: `{name}` is replaced by the value for
/// name, `{{` and `}}` stand for literal braces, and any other placeholder is an error.
enum SSHDConfigTemplate {
    static var path: String {
        // This file is Tests/EndToEndTests/Support/UpstreamServer.swift in the repository.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("scripts/sshd_config.template").path
    }

    static func render(_ values: [String: String]) throws -> String {
        let template = try String(contentsOfFile: path, encoding: .utf8)
        var output = ""
        var rest = template[...]
        while let brace = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            output += rest[..<brace]
            let after = rest.index(after: brace)
            if after < rest.endIndex && rest[after] == rest[brace] {
                output.append(rest[brace])
                rest = rest[rest.index(after: after)...]
                continue
            }
            guard rest[brace] == "{", let close = rest[after...].firstIndex(of: "}") else {
                throw HarnessError("\(path): unmatched brace at \"\(rest[brace...].prefix(20))\"")
            }
            let name = String(rest[after..<close])
            guard let value = values[name] else { throw HarnessError("\(path): no value for the placeholder {\(name)}") }
            output += value
            rest = rest[rest.index(after: close)...]
        }
        return output + rest
    }
}
