import Foundation
import XCTest

/// The same scripted cases, run by an independent client (asyncssh, plus OpenSSH's `ssh` for
/// default-client logins) against OpenSSH's sshd directly and through the proxy, compared case
/// by case. The only differences allowed are listed, with their reasons, in the script's
/// `ALLOW` table (Tests/ParityClients/differential.py): libssh 0.10.6's limits, each naming the
/// function that lacks it.
final class DifferentialTests: XCTestCase {
    func testTheProxyBehavesLikeSSHDItself() throws {
        _ = try Lab.shared()
        let scratch = try TemporaryPath(prefix: "sb-differential", create: true)
        let bannerFile = scratch.path + "/banner"
        try "Switchboard differential test banner\nSecond line of the banner\n".write(toFile: bannerFile, atomically: true, encoding: .utf8)
        let upstream = try UpstreamServer(name: "differential", extraConfig: ["Banner \(bannerFile)", "AllowTcpForwarding yes"])
        defer { upstream.stop() }
        // The proxy says what the upstream says (the default differs on purpose: ServerVersionTests).
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--server-version", try versionLine(port: upstream.port)],
            routes: [RouteSpec(TestUsers.alice.name, to: upstream)])
        let run = try Command.run(
            "/usr/bin/env", ["python3", Programs.parityClient("differential.py"), "--direct-port", String(upstream.port),
                             "--proxy-port", String(proxy.port), "--user", TestUsers.alice.name, "--password", TestUsers.alice.password],
            timeout: 300)
        print(run.out)
        let summary = run.out.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertEqual(run.status, 0, "differences not on the allow-list:\n\(run.out)\n\(run.err)")
        XCTAssertTrue(summary.contains(" 0 different"), summary)
    }

    /// What follows `SSH-2.0-` in the version line the server on `port` sends first.
    private func versionLine(port: Int) throws -> String {
        let fd = try XCTUnwrap(FreePort.connectRaw(port: port))
        defer { close(fd) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 255, recv(fd, &byte, 1, 0) == 1, byte != 0x0A { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(text.hasPrefix("SSH-2.0-"), text)
        return String(text.dropFirst("SSH-2.0-".count))
    }
}
