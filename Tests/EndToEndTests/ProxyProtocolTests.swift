import Foundation
import XCTest

/// Behind a load balancer: the PROXY protocol header gives the real client address, which
/// reaches the logs and the audit; headers from untrusted sources, or missing headers, are refused.
final class ProxyProtocolTests: XCTestCase {
    private var lab: Lab!
    private var script: String!


    override func setUpWithError() throws {
        lab = try Lab.shared()
        script = FileManager.default.temporaryDirectory.appendingPathComponent("sb-balancer-\(UUID().uuidString).py").path
        try LoadBalancerScript.text.write(toFile: script, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: script)
    }

    private func login(through proxy: ProxyProcess, header mode: String) throws -> CommandResult {
        try Clients(port: proxy.port).ssh(
            TestUsers.alice.name, TestUsers.alice.password, "echo in",
            options: ["-o", "ProxyCommand=/usr/bin/env python3 \(script!) \(mode) 127.0.0.1 %p"], timeout: 30)
    }

    private func routedProxy(trusted: String) throws -> ProxyProcess {
        try ProxyProcess(arguments: ["--proxy-protocol", "--trusted-proxies", trusted, "--ban-after", "0"],
                         routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
    }

    func testVersion1AndVersion2AddressesReachTheAudit() throws {
        let proxy = try routedProxy(trusted: "127.0.0.0/8,::1")
        for mode in ["v1", "v2"] {
            let result = try login(through: proxy, header: mode)
            XCTAssertEqual(result.out, "in\n", "\(mode): \(result.err)")
        }
        let out = try proxy.mustAdmin(["sessions", "--json"])
        let sessions = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        XCTAssertEqual(sessions.count, 2)
        for session in sessions {
            XCTAssertEqual(session["client_address"] as? String, "203.0.113.9")
            XCTAssertEqual(session["client_port"] as? Int, 51000)
        }
        XCTAssertTrue(proxy.log.contains("client.addr=203.0.113.9:51000"))
    }

    func testMissingHeaderAndUntrustedSourcesAreRefused() throws {
        let trusting = try routedProxy(trusted: "127.0.0.1/32")
        let bare = try login(through: trusting, header: "none")
        XCTAssertNotEqual(bare.status, 0)
        XCTAssertEqual(bare.out, "")
        XCTAssertTrue(trusting.log.contains("reason=proxy-protocol"))

        let distrusting = try routedProxy(trusted: "10.0.0.0/8")
        let untrusted = try login(through: distrusting, header: "v1")
        XCTAssertNotEqual(untrusted.status, 0)
        XCTAssertEqual(untrusted.out, "")
        XCTAssertTrue(distrusting.log.contains("reason=untrusted-proxy"))
    }

    func testProxyProtocolNeedsTrustedProxies() throws {
        let dataDirectory = NSTemporaryDirectory() + "sb-pp-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let result = try Command.run(Programs.switchboard, ["serve", "--listen", "127.0.0.1:0", "--proxy-protocol",
                                                            "--data-dir", dataDirectory])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("--trusted-proxies"), result.err)
    }
    /// A client certificate's source-address is checked against the address the PROXY header
    /// gives, not the balancer's.
    func testCertificateSourceAddressIsTheRealClientsBehindALoadBalancer() throws {
        let scratch = try TemporaryPath(prefix: "sb-proxy-cert", create: true)
        let proxy = try ProxyProcess(arguments: ["--proxy-protocol", "--trusted-proxies", "127.0.0.0/8", "--ban-after", "0"])
        let trusted = scratch.path + "/trusted_user_ca_keys"
        try proxy.mustAdmin(["ca", "init"]).write(toFile: trusted, atomically: true, encoding: .utf8)
        let upstream = try UpstreamServer(name: "proxy-cert", extraConfig: ["TrustedUserCAKeys \(trusted)", "AuthorizedKeysFile none"])
        defer { upstream.stop() }
        try proxy.mustAdmin([
            "route", "add", "sbt-behind-lb", "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.deploy.name,
            "--upstream-auth", "certificate",
        ])
        for name in ["client-ca", "user"] {
            _ = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", "\(scratch.path)/\(name)"])
        }
        try proxy.mustAdmin(["ca", "trust-client", scratch.path + "/client-ca.pub"])
        for (name, source, expected) in [("far", "203.0.113.0/24", 0), ("near", "127.0.0.1/32", 255)] {
            try FileManager.default.copyItem(atPath: scratch.path + "/user.pub", toPath: "\(scratch.path)/\(name).pub")
            let sign = try Command.run("/usr/bin/ssh-keygen", [
                "-q", "-s", scratch.path + "/client-ca", "-I", name, "-n", "sbt-behind-lb", "-V", "-5m:+1h",
                "-O", "source-address=\(source)", "\(scratch.path)/\(name).pub",
            ])
            XCTAssertEqual(sign.status, 0, sign.err)
            let mark = proxy.logMark()
            let login = try Command.run(Programs.ssh, [
                "-i", scratch.path + "/user", "-o", "CertificateFile=\(scratch.path)/\(name)-cert.pub", "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ProxyCommand=/usr/bin/env python3 \(script!) v1 127.0.0.1 %p", "-p", String(proxy.port),
                "sbt-behind-lb@127.0.0.1", "whoami",
            ], timeout: 30)
            XCTAssertEqual(login.status, Int32(expected), "source-address \(source): \(login.err)\n\(proxy.log(since: mark))")
            if expected != 0 { XCTAssertTrue(proxy.log(since: mark).contains("certificate-source-address")) }
        }
    }
}
