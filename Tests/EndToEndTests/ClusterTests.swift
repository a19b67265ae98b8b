import Foundation
import XCTest

/// `sessions kill`, `nodes`, the health grace on SIGTERM, and nodes sharing a PostgreSQL store
/// (the server scripts/test.sh starts; `SWITCHBOARD_TEST_DATABASE`). The full cluster — three
/// nodes, HAProxy, node loss and database outage — is docker/cluster-lab.sh.
final class ClusterTests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    private func activeSessions(_ proxy: ProxyProcess) throws -> [[String: Any]] {
        let out = try proxy.mustAdmin(["sessions", "--active", "--json"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
    }

    private func waitForActiveSession(_ proxy: ProxyProcess) throws -> Int {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let id = try activeSessions(proxy).first?["id"] as? Int { return id }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw HarnessError("no active session appeared in the audit")
    }

    func testSessionsKillEndsASessionOnASingleSQLiteNode() throws {
        let proxy = try ProxyProcess(arguments: ["--node-name", "solo"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let running = try Clients(port: proxy.port).startSSH(
            TestUsers.alice.name, TestUsers.alice.password, "sleep 60; echo never", options: ["-o", "LogLevel=INFO"])
        defer { running.terminate() }
        let id = try waitForActiveSession(proxy)
        let nodes = try proxy.mustAdmin(["nodes"])
        XCTAssertTrue(nodes.contains("solo") && nodes.contains("running"), nodes)
        XCTAssertTrue(try proxy.mustAdmin(["sessions", "--active"]).contains("solo"), "the NODE column names the node")

        let started = Date()
        let kill = try proxy.admin(["sessions", "kill", String(id)])
        XCTAssertEqual(kill.status, 0, kill.err + "\n" + proxy.log.split(separator: "\n").filter { !$0.contains("debug") }.suffix(30).joined(separator: "\n"))
        XCTAssertTrue(kill.out.contains("ended (killed)"), kill.out)
        let session = try running.wait(timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5, "the kill took longer than 2 s")
        XCTAssertNotEqual(session.status, 0)
        XCTAssertTrue(session.err.contains("an administrator ended this session"), session.err)
        XCTAssertEqual(try activeSessions(proxy).count, 0)
        let again = try proxy.admin(["sessions", "kill", String(id)])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.err.contains("no running session with id \(id)"), again.err)
    }

    func testHealthzReportsDrainingWhileTheListenerStillAccepts() throws {
        let metricsPort = try FreePort.pick()
        let proxy = try ProxyProcess(
            arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)", "--health-grace", "3", "--drain-timeout", "20"],
            routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        try FreePort.waitUntilListening(port: metricsPort, timeout: 10)
        func status(_ path: String) throws -> String {
            try Command.run("/usr/bin/curl", ["-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(metricsPort)\(path)"],
                            timeout: 10).out
        }
        XCTAssertEqual(try status("/healthz"), "200")
        XCTAssertEqual(try status("/readyz"), "200")
        proxy.send(SIGTERM)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(try status("/healthz"), "503", "a load balancer must hear that this node is going")
        let during = try Clients(port: proxy.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo still-accepting")
        XCTAssertEqual(during.out, "still-accepting\n", "logins during the health grace must still work: \(during.err)")
        let deadline = Date().addingTimeInterval(6)
        while FreePort.isListening(port: proxy.port) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(FreePort.isListening(port: proxy.port), "the listener stays open after the grace")
        XCTAssertEqual(try proxy.waitForExit(timeout: 30).status, 0)
    }

    func testNodesSharingAPostgreSQLStore() throws {
        guard let database = try TestPostgreSQL.freshSchemaURL() else { throw XCTSkip("needs \(TestPostgreSQL.variable)") }
        let keys = try TemporaryPath(prefix: "sb-cluster-keys", create: true)
        let copyKeys = try Self.clusterHostKeys(in: keys.path)
        let first = try ProxyProcess(arguments: ["--node-name", "gw-1"], database: database, prepare: copyKeys)
        let second = try ProxyProcess(arguments: ["--node-name", "gw-2"], database: database, prepare: copyKeys)
        try first.mustAdmin(RouteSpec(TestUsers.alice.name, to: lab.upstreamA).addArguments)

        let viaSecond = try Clients(port: second.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo routed")
        XCTAssertEqual(viaSecond.out, "routed\n", "a route added through one node serves logins on another: \(viaSecond.err)")
        XCTAssertNotNil(try first.mustAdmin(["route", "show", TestUsers.alice.name, "--json"]).range(of: "SHA256:"),
                        "the pin made by the second node is in the shared store")

        let running = try Clients(port: second.port).startSSH(
            TestUsers.alice.name, TestUsers.alice.password, "sleep 60", options: ["-o", "LogLevel=INFO"])
        defer { running.terminate() }
        let id = try waitForActiveSession(first)
        XCTAssertEqual(try activeSessions(first).first?["node_name"] as? String, "gw-2")
        let nodes = try first.mustAdmin(["nodes"])
        XCTAssertTrue(nodes.contains("gw-1") && nodes.contains("gw-2"), nodes)
        let started = Date()
        XCTAssertEqual(try first.admin(["sessions", "kill", String(id)]).status, 0, "killed from the other node")
        let session = try running.wait(timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)
        XCTAssertTrue(session.err.contains("an administrator ended this session"), session.err)

        // A node with host keys of its own is refused: clients would see another host key.
        XCTAssertThrowsError(try ProxyProcess(arguments: ["--node-name", "stranger"], database: database, prepare: { directory in
            _ = try Command.run(Programs.switchboard, ["hostkey", "show", "--data-dir", directory], timeout: 60)
        })) { error in
            XCTAssertTrue("\(error)".contains("host keys differ from the cluster's"), "\(error)")
        }
        // And none is made for a node that has none.
        XCTAssertThrowsError(try ProxyProcess(arguments: ["--node-name", "empty"], database: database)) { error in
            XCTAssertTrue("\(error)".contains("is missing: nodes sharing a database must present the cluster's host keys"), "\(error)")
        }
    }
}

extension ClusterTests {
    /// The admin API of one node lists and ends a session held by another; watching it is
    /// refused there with the node's name, as only the holding node relays it.
    func testTheAdminAPIOfOneNodeEndsASessionOnAnother() throws {
        guard let database = try TestPostgreSQL.freshSchemaURL() else { throw XCTSkip("needs \(TestPostgreSQL.variable)") }
        let keys = try TemporaryPath(prefix: "sb-cluster-keys", create: true)
        let copyKeys = try Self.clusterHostKeys(in: keys.path)
        let adminPort = try FreePort.pick()
        let first = try ProxyProcess(
            arguments: ["--node-name", "gw-1", "--admin-listen", "127.0.0.1:\(adminPort)"], database: database, prepare: copyKeys)
        let second = try ProxyProcess(arguments: ["--node-name", "gw-2"], database: database, prepare: copyKeys)
        try first.mustAdmin(RouteSpec(TestUsers.alice.name, to: lab.upstreamA).addArguments)
        let token = try second.mustAdmin(["token", "create", "--name", "ops"]).trimmingCharacters(in: .whitespacesAndNewlines)
        func api(_ method: String, _ path: String) throws -> (status: String, body: String) {
            let result = try Command.run("/usr/bin/curl", [
                "-sS", "-X", method, "-H", "Authorization: Bearer \(token)", "-w", "\n%{http_code}", "http://127.0.0.1:\(adminPort)\(path)",
            ], timeout: 30)
            let lines = result.out.split(separator: "\n", omittingEmptySubsequences: false)
            return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
        }

        let running = try Clients(port: second.port).startSSH(
            TestUsers.alice.name, TestUsers.alice.password, "sleep 60", options: ["-o", "LogLevel=INFO"])
        defer { running.terminate() }
        let id = try waitForActiveSession(first)
        let listed = try api("GET", "/v1/sessions?active=true")
        XCTAssertEqual(listed.status, "200", listed.body)
        XCTAssertTrue(listed.body.contains("\"node_name\":\"gw-2\"") && listed.body.contains("\"live\":false"), listed.body)
        let watch = try api("GET", "/v1/sessions/\(id)/stream")
        XCTAssertEqual(watch.status, "409", watch.body)
        XCTAssertTrue(watch.body.contains("session-on-other-node") && watch.body.contains("gw-2"), watch.body)
        let ended = try api("DELETE", "/v1/sessions/\(id)")
        XCTAssertEqual(ended.status, "200", ended.body)
        XCTAssertTrue(ended.body.contains("\"end_reason\":\"killed\""), ended.body)
        let session = try running.wait(timeout: 10)
        XCTAssertTrue(session.err.contains("an administrator ended this session"), session.err)
        XCTAssertTrue(try second.mustAdmin(["token", "changes"]).contains("session.end"), "the change is in the shared record")
    }

    func testRouteKeysInTheSharedStoreLogInFromEveryNodeAndAreEncrypted() throws {
        guard let database = try TestPostgreSQL.freshSchemaURL() else { throw XCTSkip("needs \(TestPostgreSQL.variable)") }
        let scratch = try TemporaryPath(prefix: "sb-cluster-secret", create: true)
        let (secretFile, first, second) = try Self.twoNodesWithASecret(database: database, in: scratch.path)
        try first.mustAdmin(["route", "add", "sbt-keyed", "127.0.0.1:\(lab.upstreamB.port)", "--upstream-user", TestUsers.deploy.name])
        let refused = try first.admin(["route", "keygen", "sbt-keyed"])
        XCTAssertNotEqual(refused.status, 0, "a key for a shared store needs the cluster secret")
        XCTAssertTrue(refused.err.contains("cluster secret"), refused.err)
        let publicLine = try first.mustAdmin(["route", "keygen", "sbt-keyed", "--cluster-secret-file", secretFile])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(publicLine.hasPrefix("ssh-ed25519 "), publicLine)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.dataDirectory + "/route-keys"), "no key file is written")

        let stored = try Command.run("/usr/bin/psql", [database, "-At", "-c", "SELECT identity_key FROM routes WHERE login = 'sbt-keyed'"])
        let body = stored.out.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let blob = String(decoding: Data(base64Encoded: body) ?? Data(), as: UTF8.self)
        XCTAssertTrue(blob.contains("aes128-cbc") && blob.contains("bcrypt"), "the stored key is encrypted: \(stored.out.prefix(80))")

        let home = "/home/\(TestUsers.deploy.name)/.ssh"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try (publicLine + "\n").write(toFile: home + "/authorized_keys", atomically: true, encoding: .utf8)
        _ = try Command.run("/bin/chown", ["-R", "\(TestUsers.deploy.name):\(TestUsers.deploy.name)", home])
        defer { try? FileManager.default.removeItem(atPath: home + "/authorized_keys") }
        try Self.keyLoginsReachTheDeployUser("sbt-keyed", through: [first, second], keyIn: scratch.path)
    }

    func testTheCertificateAuthorityInTheSharedStoreSignsOnEveryNode() throws {
        guard let database = try TestPostgreSQL.freshSchemaURL() else { throw XCTSkip("needs \(TestPostgreSQL.variable)") }
        let scratch = try TemporaryPath(prefix: "sb-cluster-ca", create: true)
        let (secretFile, first, second) = try Self.twoNodesWithASecret(database: database, in: scratch.path)
        let refused = try first.admin(["ca", "init"])
        XCTAssertNotEqual(refused.status, 0, "a CA in a shared store needs the cluster secret")
        XCTAssertTrue(refused.err.contains("cluster secret"), refused.err)
        let caLine = try first.mustAdmin(["ca", "init", "--cluster-secret-file", secretFile])
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.dataDirectory + "/ca"), "no CA key file is written")
        let stored = try Command.run("/usr/bin/psql", [database, "-At", "-c", "SELECT key_encrypted IS NOT NULL, key_file IS NULL FROM signing_cas"])
        XCTAssertEqual(stored.out, "t|t\n", stored.err)

        let trusted = scratch.path + "/trusted_user_ca_keys"
        try caLine.write(toFile: trusted, atomically: true, encoding: .utf8)
        let upstream = try UpstreamServer(name: "cluster-cert", extraConfig: ["TrustedUserCAKeys \(trusted)", "AuthorizedKeysFile none"])
        defer { upstream.stop() }
        try first.mustAdmin([
            "route", "add", "sbt-cluster-cert", "127.0.0.1:\(upstream.port)", "--upstream-user", TestUsers.deploy.name,
            "--upstream-auth", "certificate",
        ])
        try Self.keyLoginsReachTheDeployUser("sbt-cluster-cert", through: [first, second], keyIn: scratch.path)
        let log = try String(contentsOfFile: upstream.directory.appendingPathComponent("sshd.log").path, encoding: .utf8)
        XCTAssertEqual(log.components(separatedBy: "ID switchboard login=sbt-cluster-cert").count - 1, 2, log)
    }
}

extension ClusterTests {
    /// Two nodes on `database` sharing host keys and a cluster secret kept in `folder`; returns
    /// the secret's file and the nodes.
    static func twoNodesWithASecret(database: String, in folder: String) throws -> (String, ProxyProcess, ProxyProcess) {
        let secretFile = folder + "/cluster-secret"
        try "a-cluster-secret-of-enough-length\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile, 0o600)
        let copyKeys = try clusterHostKeys(in: folder + "/keys")
        let arguments = ["--cluster-secret-file", secretFile]
        let first = try ProxyProcess(arguments: arguments, database: database, prepare: copyKeys)
        return (secretFile, first, try ProxyProcess(arguments: arguments, database: database, prepare: copyKeys))
    }

    /// A new client key listed for `login` logs in as the deploy user through each of `nodes`.
    static func keyLoginsReachTheDeployUser(_ login: String, through nodes: [ProxyProcess], keyIn folder: String) throws {
        let clientKey = folder + "/client"
        _ = try Command.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", clientKey])
        try nodes[0].mustAdmin(["key", "add", login, clientKey + ".pub"])
        for node in nodes {
            let result = try Command.run(Programs.ssh, [
                "-i", clientKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-p", String(node.port), "\(login)@127.0.0.1", "whoami",
            ], timeout: 30)
            XCTAssertEqual(result.out, "\(TestUsers.deploy.name)\n", "node on port \(node.port): \(result.err)\n\(node.log.suffix(2000))")
        }
    }

    /// Makes the cluster's host keys in `folder` once; returns what places them in a new node's
    /// data directory (a `ProxyProcess` `prepare`), as an operator copies them.
    static func clusterHostKeys(in folder: String) throws -> (String) throws -> Void {
        _ = try Command.run(Programs.switchboard, ["hostkey", "show", "--data-dir", folder], timeout: 60)
        return { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            for name in ["ssh_host_ed25519_key", "ssh_host_rsa_key"] {
                try FileManager.default.copyItem(atPath: "\(folder)/\(name)", toPath: "\(directory)/\(name)")
            }
        }
    }
}

/// The PostgreSQL server of the test run, if any: each test gets a schema of its own.
enum TestPostgreSQL {
    static let variable = "SWITCHBOARD_TEST_DATABASE"

    static func freshSchemaURL() throws -> String? {
        guard let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                XCTFail("\(variable) is not set under CI=true: the PostgreSQL cluster tests did not run")
            }
            return nil
        }
        let schema = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let created = try Command.run("/usr/bin/psql", [url, "-q", "-c", "CREATE SCHEMA \(schema)"], timeout: 30)
        guard created.status == 0 else { throw HarnessError("cannot create a schema: \(created.err)") }
        return url + (url.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
    }
}
