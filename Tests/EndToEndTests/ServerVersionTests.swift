import Foundation
import XCTest

/// The proxy's version line: by default it says OpenSSH (with Switchboard as its comment), so
/// clients that adapt to OpenSSH servers treat the upstream OpenSSH right; `--server-version`
/// changes it.
final class ServerVersionTests: XCTestCase {
    private func symlink(port: Int) throws -> [String] {
        let run = try Command.run(
            "/usr/bin/env", ["python3", Programs.parityClient("sftp_symlink.py"), String(port), TestUsers.alice.name, TestUsers.alice.password],
            timeout: 60)
        XCTAssertEqual(run.status, 0, run.err)
        return run.out.split(separator: "\n").map(String.init)
    }

    func testAnAsyncsshSymlinkLandsAsDirectlyAndTheVersionIsConfigurable() throws {
        let lab = try Lab.shared()
        let direct = try symlink(port: lab.upstreamA.port)
        XCTAssertEqual(direct.last, "target.txt", "sshd itself: \(direct)")

        let proxy = try ProxyProcess(arguments: [], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let throughProxy = try symlink(port: proxy.port)
        XCTAssertEqual(throughProxy, ["SSH-2.0-OpenSSH_9.9 Switchboard", "target.txt"])

        // Claiming to be something else, asyncssh sends the draft's order and OpenSSH's
        // sftp-server makes a different link: why the default says OpenSSH.
        let plain = try ProxyProcess(arguments: ["--server-version", "Switchboard_1.0"],
                                     routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let named = try symlink(port: plain.port)
        XCTAssertEqual(named.first, "SSH-2.0-Switchboard_1.0")
        XCTAssertNotEqual(named.last, "target.txt", "asyncssh keys the argument order on the version line")

        let scratch = try TemporaryPath(prefix: "sb-version", create: true)
        let bad = try Command.run(
            Programs.switchboard, ["serve", "--check-config", "--data-dir", scratch.path, "--server-version", "Bad-Name 1"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("is not a version"), bad.err)
    }
}
