import Foundation
import XCTest

/// OpenSSH certificates with real parts: the proxy's CA signs a certificate for each upstream
/// login, which real `sshd` upstreams accept through `TrustedUserCAKeys` (one with an
/// `AuthorizedPrincipalsFile`) and name in their logs; client certificates made with
/// `ssh-keygen -s` log clients in, or are refused for each reason sshd would refuse them.
final class CertificateTests: XCTestCase {
    private var scratch: TemporaryPath!
    private var proxy: ProxyProcess!
    /// The upstreams' TrustedUserCAKeys file, rewritten by the tests.
    private var trustedCAs: String { scratch.path + "/trusted_user_ca_keys" }
    private var principals: String { scratch.path + "/principals" }

    override func setUpWithError() throws {
        try TestUsers.ensure()
        scratch = try TemporaryPath(prefix: "sb-certs", create: true)
        try FileManager.default.createDirectory(atPath: principals, withIntermediateDirectories: true)
        try "".write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        proxy = try ProxyProcess()
    }

    override func tearDownWithError() throws {
        proxy?.stop()
        scratch = nil
    }

    /// An sshd that trusts the CAs in `trustedCAs`, with no authorized_keys at all. With
    /// `principalsFile`, a certificate's principals must be listed in `principals/<user>`.
    private func certificateUpstream(_ name: String, principalsFile: Bool = false) throws -> UpstreamServer {
        var config = ["TrustedUserCAKeys \(trustedCAs)", "AuthorizedKeysFile none", "PasswordAuthentication no", "AllowTcpForwarding yes"]
        if principalsFile { config.append("AuthorizedPrincipalsFile \(principals)/%u") }
        return try UpstreamServer(name: name, extraConfig: config)
    }

    /// The proxy's CA made and trusted by a new certificate upstream, and `login` routed to it
    /// with `--upstream-auth certificate`.
    private func certificateRoute(_ login: String, upstream name: String) throws -> UpstreamServer {
        try (try proxy.mustAdmin(["ca", "init"])).write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        let upstream = try certificateUpstream(name)
        try proxy.mustAdmin([
            "route", "add", login, "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.deploy.name,
            "--upstream-auth", "certificate",
        ])
        return upstream
    }

    /// A certificate for the public key `user.pub` made by `ssh-keygen -s ca` with `arguments`,
    /// in its own file named after `name`.
    private func clientCertificate(_ name: String, of user: String, ca: String, _ arguments: [String]) throws -> String {
        let publicCopy = "\(scratch.path)/case-\(name).pub"
        try FileManager.default.copyItem(atPath: user + ".pub", toPath: publicCopy)
        let sign = try Command.run("/usr/bin/ssh-keygen", ["-q", "-s", ca] + arguments + [publicCopy])
        guard sign.status == 0 else { throw HarnessError("ssh-keygen -s: \(sign.err)") }
        return "\(scratch.path)/case-\(name)-cert.pub"
    }

    private func makeKey(_ name: String, type: [String] = ["-t", "ed25519"]) throws -> String {
        let path = scratch.path + "/" + name
        let result = try Command.run("/usr/bin/ssh-keygen", ["-q"] + type + ["-N", "", "-C", name, "-f", path])
        guard result.status == 0 else { throw HarnessError("ssh-keygen: \(result.err)") }
        return path
    }

    private func ssh(
        _ login: String, key: String, certificate: String? = nil, port: Int? = nil, command: String, options: [String] = []
    ) throws -> CommandResult {
        try Command.run(Programs.ssh, options + [
            "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        ] + (certificate.map { ["-o", "CertificateFile=\($0)"] } ?? []) + [
            "-p", String(port ?? proxy.port), "\(login)@127.0.0.1", command,
        ], timeout: 30)
    }

    /// The signing CA's fingerprint as `ca show --json` reports it.
    private func signingFingerprint() throws -> String {
        let json = try proxy.mustAdmin(["ca", "show", "--json"])
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return try XCTUnwrap(list.first { $0["state"] as? String == "signing" }?["fingerprint"] as? String)
    }

    func testUpstreamCertificateLogsInAndTheUpstreamLogNamesTheLoginAndSession() throws {
        let caLine = try proxy.mustAdmin(["ca", "init"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(caLine.hasPrefix("ssh-ed25519 "), caLine)
        try (caLine + "\n").write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        try "deploy-team\n".write(toFile: principals + "/" + TestUsers.deploy.name, atomically: true, encoding: .utf8)
        let upstream = try certificateUpstream("cert-principals", principalsFile: true)
        defer { upstream.stop() }
        try proxy.mustAdmin([
            "route", "add", "sbt-certs", "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.deploy.name,
            "--upstream-auth", "certificate", "--principal", "deploy-team", "--host-key-policy", "accept-new",
        ])
        let client = try makeKey("client")
        try proxy.mustAdmin(["key", "add", "sbt-certs", client + ".pub"])
        XCTAssertTrue(try proxy.mustAdmin(["route", "show", "sbt-certs"]).contains("certificate (a fresh key"))

        let login = try ssh("sbt-certs", key: client, command: "whoami; echo $SWITCHBOARD_UPSTREAM")
        XCTAssertEqual(login.status, 0, login.err + proxy.log.suffix(3000))
        XCTAssertEqual(login.out, "\(TestUsers.deploy.name)\ncert-principals\n")

        // The upstream's own log names the gateway login, the client and the audit session.
        let sessions = try proxy.mustAdmin(["sessions", "--json"])
        let records = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(sessions.utf8)) as? [[String: Any]])
        let id = try XCTUnwrap(records.first?["id"] as? Int)
        let sshdLog = try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
        let accepted = try XCTUnwrap(sshdLog.split(whereSeparator: \.isNewline).first { $0.contains("Accepted publickey for \(TestUsers.deploy.name)") })
        XCTAssertTrue(accepted.contains("ED25519-CERT"), String(accepted))
        XCTAssertTrue(accepted.contains("ID switchboard login=sbt-certs client=127.0.0.1:"), String(accepted))
        XCTAssertTrue(accepted.contains("session=\(id) (serial "), String(accepted))
        XCTAssertTrue(accepted.contains(try signingFingerprint()), String(accepted))
        print("upstream sshd log: \(accepted)")

        // A principal the upstream does not list is refused by the upstream itself, and the
        // audit record started for the login says so.
        try proxy.mustAdmin(["route", "set", "sbt-certs", "--principal", "someone-else"])
        let refused = try ssh("sbt-certs", key: client, command: "true")
        XCTAssertEqual(refused.status, 255)
        XCTAssertTrue(refused.err.contains("Permission denied"), refused.err)
        let after = try proxy.mustAdmin(["sessions", "--json"])
        XCTAssertTrue(after.contains("upstream-refused-certificate"), after)
        XCTAssertTrue(try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
            .contains("Certificate does not contain an authorized principal"))

        // Password logins are not what this route takes: refused, whatever the password.
        let password = try Command.run(Programs.sshpass, ["-p", TestUsers.deploy.password, Programs.ssh,
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "PubkeyAuthentication=no", "-p", String(proxy.port), "sbt-certs@127.0.0.1", "true"], timeout: 30)
        XCTAssertEqual(password.status, 255, password.out)
    }

    func testTheUpstreamEnforcesTheCertificatesExtensions() throws {
        try (try proxy.mustAdmin(["ca", "init"])).write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        let upstream = try certificateUpstream("cert-extensions")
        defer { upstream.stop() }
        for (login, forwarding) in [("sbt-fwd-none", "none"), ("sbt-fwd-all", "all")] {
            try proxy.mustAdmin([
                "route", "add", login, "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.deploy.name,
                "--upstream-auth", "certificate", "--forwarding", forwarding,
            ])
        }
        // The certificate a login would get, used straight against the upstream (no proxy in
        // between to refuse forwarding first): only the upstream can refuse here.
        let key = try makeKey("direct")
        for login in ["sbt-fwd-none", "sbt-fwd-all"] {
            let certificate = try proxy.mustAdmin(["ca", "sign-demo", "--route", login, "--public-key", key + ".pub"])
            try certificate.write(toFile: "\(key)-\(login)-cert.pub", atomically: true, encoding: .utf8)
            let listing = try Command.run("/usr/bin/ssh-keygen", ["-L", "-f", "\(key)-\(login)-cert.pub"])
            XCTAssertEqual(listing.status, 0, listing.err)
            XCTAssertTrue(listing.out.contains("Principals: \n                \(TestUsers.deploy.name)"), listing.out)
            XCTAssertTrue(listing.out.contains("permit-pty"), listing.out)
            XCTAssertFalse(listing.out.contains("X11"), listing.out)
            XCTAssertEqual(listing.out.contains("permit-port-forwarding"), login == "sbt-fwd-all", listing.out)
        }
        let stdio = ["-W", "127.0.0.1:\(upstream.port)"]
        let refused = try ssh(TestUsers.deploy.name, key: key, certificate: "\(key)-sbt-fwd-none-cert.pub", port: upstream.port,
                              command: "", options: stdio)
        XCTAssertEqual(refused.status, 255)
        XCTAssertTrue(refused.err.contains("stdio forwarding failed"), refused.err)
        let upstreamLog = try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
        let refusal = upstreamLog.split(whereSeparator: \.isNewline).filter { $0.contains("refused local port forward") }
        XCTAssertEqual(refusal.count, 1, upstreamLog)
        print("upstream refusal: \(refusal.joined())")
        let allowed = try ssh(TestUsers.deploy.name, key: key, certificate: "\(key)-sbt-fwd-all-cert.pub", port: upstream.port,
                              command: "", options: stdio)
        XCTAssertTrue(allowed.out.hasPrefix("SSH-2.0-OpenSSH"), allowed.out + allowed.err)
    }

    func testRotationKeepsUpstreamsWorkingAndRetireEndsTheOldCA() throws {
        let first = try proxy.mustAdmin(["ca", "init"])
        try first.write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        let upstream = try certificateUpstream("cert-rotation")
        defer { upstream.stop() }
        try proxy.mustAdmin([
            "route", "add", "sbt-rotate", "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.deploy.name,
            "--upstream-auth", "certificate", "--cert-ttl", "60",
        ])
        let client = try makeKey("client")
        try proxy.mustAdmin(["key", "add", "sbt-rotate", client + ".pub"])
        let oldFingerprint = try signingFingerprint()
        XCTAssertEqual(try ssh("sbt-rotate", key: client, command: "true").status, 0)

        // Rotate: the upstream learns both CAs (ca show prints both, with comments, which sshd
        // skips); the old CA keeps signing.
        let next = try proxy.mustAdmin(["ca", "rotate"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = try proxy.mustAdmin(["ca", "show"])
        XCTAssertTrue(shown.contains(first.trimmingCharacters(in: .whitespacesAndNewlines)) && shown.contains(next), shown)
        XCTAssertNotEqual(try proxy.admin(["ca", "rotate"]).status, 0, "a second rotation must wait for retire")
        try shown.write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ssh("sbt-rotate", key: client, command: "true").status, 0)
        XCTAssertEqual(try signingFingerprint(), oldFingerprint)

        // Retire: only the new CA is shown and signs; an upstream that still trusts only the
        // old one refuses, one that trusts the new one accepts.
        try proxy.mustAdmin(["ca", "retire"])
        let afterRetire = try proxy.mustAdmin(["ca", "show"])
        XCTAssertFalse(afterRetire.contains(first.trimmingCharacters(in: .whitespacesAndNewlines)), afterRetire)
        XCTAssertTrue(afterRetire.contains(next), afterRetire)
        let newFingerprint = try signingFingerprint()
        XCTAssertNotEqual(newFingerprint, oldFingerprint)
        try first.write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ssh("sbt-rotate", key: client, command: "true").status, 255, "the retired CA still signs")
        try (next + "\n").write(toFile: trustedCAs, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ssh("sbt-rotate", key: client, command: "true").status, 0)
        let sshdLog = try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
        XCTAssertTrue(sshdLog.contains("CA ED25519 \(newFingerprint)"), sshdLog.suffix(2000).description)
        let listed = try proxy.mustAdmin(["ca", "list"])
        XCTAssertTrue(listed.contains("retired") && listed.contains(oldFingerprint), listed)
    }

    func testClientCertificatesFromATrustedCA() throws {
        let upstream = try certificateRoute("sbt-ccert", upstream: "cert-clients")
        defer { upstream.stop() }
        let corp = try makeKey("corp-ca")
        let other = try makeKey("other-ca")
        let ecdsa = try makeKey("ecdsa-ca", type: ["-t", "ecdsa", "-b", "256"])
        let rsa = try makeKey("rsa-ca", type: ["-t", "rsa", "-b", "3072"])
        try proxy.mustAdmin(["ca", "trust-client", corp + ".pub", "--name", "corp"])
        try proxy.mustAdmin(["ca", "trust-client", ecdsa + ".pub"])
        try proxy.mustAdmin(["ca", "trust-client", rsa + ".pub"])
        let listed = try proxy.mustAdmin(["ca", "list"])
        XCTAssertTrue(listed.contains("corp") && listed.contains("ecdsa-sha2-nistp256") && listed.contains("rsa-ca"), listed)
        let user = try makeKey("user")

        func certificate(_ name: String, ca: String = corp, _ arguments: [String]) throws -> String {
            try clientCertificate(name, of: user, ca: ca, arguments)
        }
        let cases: [(name: String, arguments: [String], ca: String, reason: String?)] = [
            ("valid", ["-I", "alice@corp", "-n", "sbt-ccert", "-V", "-5m:+1h", "-z", "100"], corp, nil),
            ("by-ecdsa-ca", ["-I", "ecdsa", "-n", "sbt-ccert", "-V", "-5m:+1h"], ecdsa, nil),
            ("by-rsa-ca", ["-I", "rsa", "-n", "sbt-ccert", "-V", "-5m:+1h", "-t", "rsa-sha2-512"], rsa, nil),
            ("by-rsa-ca-sha1", ["-I", "rsa-sha1", "-n", "sbt-ccert", "-V", "-5m:+1h", "-t", "ssh-rsa"], rsa, "certificate-bad-signature"),
            ("expired", ["-I", "old", "-n", "sbt-ccert", "-V", "-2h:-1h"], corp, "certificate-expired"),
            ("future", ["-I", "soon", "-n", "sbt-ccert", "-V", "+1h:+2h"], corp, "certificate-not-yet-valid"),
            ("other-principal", ["-I", "bob", "-n", "sbt-someone", "-V", "-5m:+1h"], corp, "certificate-wrong-principal"),
            ("other-ca", ["-I", "mallory", "-n", "sbt-ccert", "-V", "-5m:+1h"], other, "certificate-untrusted-ca"),
            ("revoked-serial", ["-I", "lost-laptop", "-n", "sbt-ccert", "-V", "-5m:+1h", "-z", "4242"], corp, "certificate-revoked"),
            ("revoked-id", ["-I", "fired-contractor", "-n", "sbt-ccert", "-V", "-5m:+1h", "-z", "7"], corp, "certificate-revoked"),
            ("force-command", ["-I", "fc", "-n", "sbt-ccert", "-V", "-5m:+1h", "-O", "force-command=/bin/true"], corp,
             "certificate-unsupported-option"),
            ("far-source", ["-I", "src", "-n", "sbt-ccert", "-V", "-5m:+1h", "-O", "source-address=10.0.0.0/8"], corp,
             "certificate-source-address"),
            ("near-source", ["-I", "src-ok", "-n", "sbt-ccert", "-V", "-5m:+1h", "-O", "source-address=127.0.0.0/8,::1"], corp, nil),
        ]
        try proxy.mustAdmin(["ca", "revoke", "--serial", "4242"])
        try proxy.mustAdmin(["ca", "revoke", "--key-id", "fired-contractor", "--ca", "corp"])
        for entry in cases {
            let file = try certificate(entry.name, ca: entry.ca, entry.arguments)
            let mark = proxy.logMark()
            let result = try ssh("sbt-ccert", key: user, certificate: file, command: "whoami")
            if let reason = entry.reason {
                XCTAssertEqual(result.status, 255, "\(entry.name) logged in")
                XCTAssertTrue(result.err.contains("Permission denied"), "\(entry.name): \(result.err)")
                XCTAssertTrue(proxy.log(since: mark).contains(reason), "\(entry.name): no \(reason) in\n\(proxy.log(since: mark))")
            } else {
                XCTAssertEqual(result.status, 0, "\(entry.name): \(result.err)\n\(proxy.log(since: mark))")
                XCTAssertEqual(result.out, TestUsers.deploy.name + "\n")
                XCTAssertTrue(proxy.log(since: mark).contains("client certificate accepted"))
            }
        }
        // The upstream certificate names the gateway login, not the client certificate's id.
        let sshdLog = try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
        XCTAssertTrue(sshdLog.contains("ID switchboard login=sbt-ccert"), sshdLog.suffix(2000).description)

        // A certificate without permit-pty logs in, but gets no terminal (as sshd refuses one).
        let noPTY = try certificate("no-pty", ["-I", "batch", "-n", "sbt-ccert", "-V", "-5m:+1h", "-O", "clear"])
        let batch = try ssh("sbt-ccert", key: user, certificate: noPTY, command: "whoami")
        XCTAssertEqual(batch.status, 0, batch.err)
        let terminal = try ssh("sbt-ccert", key: user, certificate: noPTY, command: "tty", options: ["-tt"])
        XCTAssertTrue(terminal.err.contains("PTY allocation request failed"), terminal.out + terminal.err)

        // Untrusting the CA ends its certificates' logins.
        try proxy.mustAdmin(["ca", "untrust-client", "corp"])
        let valid = "\(scratch.path)/case-valid-cert.pub"
        XCTAssertEqual(try ssh("sbt-ccert", key: user, certificate: valid, command: "true").status, 255)
    }

    /// Certificates the OpenSSH client will not even load (their CA signature no longer
    /// verifies), sent by a raw client (paramiko, `HostilePeers/forged_certificate.py`) that signs
    /// the session with the certified key, so libssh accepts them and only the proxy's own checks
    /// stand in the way: each is refused for its reason and counted, and the proxy goes on
    /// logging in a real certificate.
    func testForgedCertificatesFromARawClientAreRefusedAndOthersStillLogIn() throws {
        // Another proxy: no bans (the attacks would ban 127.0.0.1), and metrics to count them.
        proxy.stop()
        let metricsPort = try FreePort.pick()
        proxy = try ProxyProcess(arguments: ["--ban-after", "0", "--metrics-listen", "127.0.0.1:\(metricsPort)"])
        try FreePort.waitUntilListening(port: metricsPort, timeout: 10)
        let login = "sbt-forged"
        let upstream = try certificateRoute(login, upstream: "cert-forged")
        defer { upstream.stop() }
        let corp = try makeKey("corp-ca")
        try proxy.mustAdmin(["ca", "trust-client", corp + ".pub", "--name", "corp"])
        let user = try makeKey("user")

        func certificate(_ name: String, _ arguments: [String]) throws -> String {
            try clientCertificate(name, of: user, ca: corp, arguments)
        }
        let valid = try certificate("valid", ["-I", "alice@corp", "-n", login, "-V", "-5m:+1h"])
        let expired = try certificate("expired", ["-I", "old", "-n", login, "-V", "-2h:-1h"])
        let someoneElse = try certificate("someone-else", ["-I", "bob", "-n", "sbt-someone", "-V", "-5m:+1h"])
        let host = try certificate("host", ["-h", "-I", "a-host", "-n", login, "-V", "-5m:+1h"])

        /// One attempt by the raw client: its JSON answer, `accepted` and `error`.
        func attack(_ mode: String, _ certificate: String) throws -> (accepted: Bool, error: String) {
            let run = try Command.run("/usr/bin/env", [
                "python3", Programs.hostilePeer("forged_certificate.py"), String(proxy.port), login, user, certificate, mode,
            ], timeout: 90)
            XCTAssertEqual(run.status, 0, "\(mode): \(run.out)\(run.err)")
            let answer = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any], "\(mode): \(run.out)\(run.err)")
            return (try XCTUnwrap(answer["accepted"] as? Bool), answer["error"] as? String ?? "")
        }

        // The control: the raw client logs in with the certificate as ssh-keygen made it, so
        // what is refused below is refused for the forgery.
        var mark = proxy.logMark()
        let control = try attack("unmodified", valid)
        XCTAssertTrue(control.accepted, "the raw client cannot log in with a good certificate: \(control.error)\n\(proxy.log(since: mark))")
        XCTAssertTrue(proxy.log(since: mark).contains("client certificate accepted"), proxy.log(since: mark))

        let forgeries: [(mode: String, certificate: String, reason: String)] = [
            ("tampered-signature", valid, "certificate-bad-signature"),
            ("resigned-by-stranger", valid, "certificate-bad-signature"),
            ("extended-validity", expired, "certificate-bad-signature"),
            ("added-principal", someoneElse, "certificate-bad-signature"),
            ("host-certificate", host, "certificate-not-user"),
            // libssh reads a certificate only up to its key: the rest reaches the proxy's parser.
            ("garbage-after-key", valid, "certificate-unreadable"),
        ]
        for forgery in forgeries {
            mark = proxy.logMark()
            let result = try attack(forgery.mode, forgery.certificate)
            let log = proxy.log(since: mark)
            XCTAssertFalse(result.accepted, "\(forgery.mode) logged in:\n\(log)")
            XCTAssertTrue(log.contains("reason=\(forgery.reason) "), "\(forgery.mode): no \(forgery.reason) in\n\(log)")
            XCTAssertTrue(log.contains("client certificate refused"), "\(forgery.mode):\n\(log)")
            XCTAssertFalse(log.contains("client certificate accepted"), "\(forgery.mode):\n\(log)")
            XCTAssertFalse(log.contains("upstream certificate issued"), "\(forgery.mode) reached the upstream:\n\(log)")
        }

        // A blob that is only the certificate's type name and garbage: libssh 0.10.6 cannot
        // parse the key and drops the request without an answer (messages.c), so the client
        // waits until its own timeout; the proxy neither accepts it nor falls over.
        mark = proxy.logMark()
        let garbage = try attack("garbage-after-type", valid)
        XCTAssertFalse(garbage.accepted, proxy.log(since: mark))
        XCTAssertFalse(proxy.log(since: mark).contains("client certificate accepted"), proxy.log(since: mark))
        print("garbage after the type name: \(garbage.error)")
        XCTAssertEqual(kill(proxy.pid, 0), 0, "the proxy died:\n\(proxy.log.suffix(3000))")

        // Each refusal was counted under its reason.
        let metrics = try Command.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"], timeout: 10).out
        func count(_ result: String) -> Double? {
            let prefix = #"switchboard_client_certificates_total{result=""# + result + #""} "#
            return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
        }
        XCTAssertEqual(count("certificate-bad-signature"), 4, metrics)
        XCTAssertEqual(count("certificate-not-user"), 1, metrics)
        XCTAssertEqual(count("certificate-unreadable"), 1, metrics)
        XCTAssertEqual(count("accepted"), 1, metrics)

        // A well-formed certificate through the real client still logs in, on the same proxy.
        let real = try ssh(login, key: user, certificate: valid, command: "whoami")
        XCTAssertEqual(real.status, 0, real.err + proxy.log.suffix(3000))
        XCTAssertEqual(real.out, TestUsers.deploy.name + "\n")
        XCTAssertEqual(kill(proxy.pid, 0), 0, "the proxy died:\n\(proxy.log.suffix(3000))")
    }

    /// `--certificate-source-addresses` writes the proxy's egress ranges into each upstream
    /// certificate, and the upstream enforces them.
    func testUpstreamCertificatesCarryTheProxysEgressAddresses() throws {
        let upstream = try certificateRoute("sbt-egress", upstream: "cert-egress")
        defer { upstream.stop() }
        let client = try makeKey("client")
        try proxy.mustAdmin(["key", "add", "sbt-egress", client + ".pub"])
        for (ranges, expected) in [("127.0.0.0/8,::1", Int32(0)), ("198.51.100.0/24", Int32(255))] {
            let next = try ProxyProcess(arguments: ["--certificate-source-addresses", ranges], sharingDataDirectoryWith: proxy)
            proxy.stop()
            proxy = next
            let login = try ssh("sbt-egress", key: client, command: "whoami")
            XCTAssertEqual(login.status, expected, "\(ranges): \(login.err)")
        }
        let log = try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
        XCTAssertTrue(log.contains("not from a permitted source address"), log.suffix(2000).description)
    }
}
