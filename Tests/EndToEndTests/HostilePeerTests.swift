import Foundation
import XCTest

/// Clients that break the rules on purpose (paramiko with its politeness turned off), against
/// a proxy watched by a memory checker or by its own metrics.
final class HostilePeerTests: XCTestCase {
    /// A channel request that wants a reply, then CHANNEL_CLOSE at once: the relay must answer
    /// or drop the queued request before the channel is freed, or libssh reads freed memory.
    func testARequestRacingACloseReadsNoFreedMemory() throws {
        let lab = try Lab.shared()
        // valgrind cannot read the debug build's DWARF; a stripped copy runs the same code.
        let scratch = try TemporaryPath(prefix: "sb-valgrind", create: true)
        let binary = scratch.path + "/switchboard"
        let strip = try Command.run("/usr/bin/strip", ["-o", binary, Programs.switchboard])
        XCTAssertEqual(strip.status, 0, strip.err)
        // Made without valgrind: generating the RSA host key under it would take minutes.
        let keys = try ProxyProcess(arguments: ["--ban-after", "0"], routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        let report = scratch.path + "/valgrind.log"
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0"], sharingDataDirectoryWith: keys,
            launcher: ["/usr/bin/valgrind", "--tool=memcheck", "--error-limit=no", "--log-file=\(report)"], binary: binary,
            startupTimeout: 90)
        keys.stop()

        let attack = try Command.run(
            "/usr/bin/env", ["python3", Programs.hostilePeer("request_then_close.py"), String(proxy.port), TestUsers.alice.name,
                                 TestUsers.alice.password, "30"], timeout: 240)
        XCTAssertEqual(attack.out, "ok\n", attack.err)
        proxy.send(SIGTERM)
        _ = try proxy.waitForExit(timeout: 60)
        let findings = try String(contentsOfFile: report, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("Invalid read") || $0.contains("Invalid write") || $0.contains("Invalid free") }
        XCTAssertEqual(findings, [], "valgrind saw the proxy touch freed memory")
    }
}
