import Foundation

/// A real OpenSSH `sshd` on loopback with its own config, host key and a marker
/// (`SWITCHBOARD_UPSTREAM` in the session environment) that tells tests which host they reached.
final class UpstreamServer {
    let name: String
    let port: Int
    let directory: URL
    private var daemon: RunningCommand?

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

    init(name: String, authentication: Authentication = .passwordAndKeys) throws {
        self.name = name
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-upstream-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try FreePort.pick()
        let hostKey = directory.appendingPathComponent("ssh_host_ed25519_key").path
        let keygen = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
        guard keygen.status == 0 else { throw HarnessError("ssh-keygen failed: \(keygen.err)") }
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(hostKey)
            PidFile \(directory.path)/sshd.pid
            \(authentication.sshdOptions.joined(separator: "\n"))
            PermitRootLogin no
            StrictModes no
            MaxStartups 200
            MaxSessions 50
            LogLevel VERBOSE
            AcceptEnv LANG LC_* SB_*
            Subsystem sftp internal-sftp
            SetEnv SWITCHBOARD_UPSTREAM=\(name)

            """
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

    /// Starts (or restarts) the daemon and waits until it accepts connections.
    func start() throws {
        let configPath = directory.appendingPathComponent("sshd_config").path
        daemon = try Command.start("/usr/sbin/sshd", ["-D", "-f", configPath, "-E", directory.appendingPathComponent("sshd.log").path])
        try FreePort.waitUntilListening(port: port, timeout: 10)
    }

    /// Stops the daemon and every session process it started.
    func stop() {
        daemon?.terminate()
        daemon = nil
    }

    deinit { stop() }
}
