import Foundation
import XCTest

/// Every socket has exactly one owner: when libssh has already closed an upstream socket (the
/// upstream died, or disconnected at its MaxAuthTries), the proxy must not close that number
/// again, because by then it may be another connection's socket. Checked with strace while
/// other users' transfers run and verify their data.
final class DescriptorOwnershipTests: XCTestCase {
    func testNoConnectionClosesADescriptorTwiceWhileOthersTransferData() throws {
        let lab = try Lab.shared()
        let strict = try UpstreamServer(name: "max-auth-tries", extraConfig: ["MaxAuthTries 2"])
        defer { strict.stop() }
        let trace = try TemporaryPath(prefix: "sb-strace")
        let proxy = try ProxyProcess(
            arguments: ["--ban-after", "0", "--max-auth-tries", "10"],
            routes: [
                RouteSpec(TestUsers.alice.name, to: lab.upstreamA), RouteSpec(TestUsers.bob.name, to: lab.upstreamB),
                RouteSpec("sbt-strict", to: strict, options: ["--upstream-user", TestUsers.alice.name]),
            ],
            launcher: ["/usr/bin/strace", "-f", "-qq", "-e", "trace=\(DescriptorTrace.syscalls)", "-o", trace.path])
        let clients = Clients(port: proxy.port)

        // Other users' transfers run the whole time and must arrive intact.
        let payload = Data((0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })
        let expected = try Command.run("/usr/bin/sha256sum", [], stdin: payload).out.prefix(64)
        let transfers = try (0..<3).map { _ in
            try Command.start(Programs.sshpass, ["-e"] + clients.sshCommandLine + ["\(TestUsers.bob.name)@127.0.0.1", "sleep 1; sha256sum"],
                              stdin: payload, environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": TestUsers.bob.password]) { $1 })
        }

        for _ in 0..<4 {
            let killed = try clients.ssh(TestUsers.alice.name, TestUsers.alice.password, "echo up; sleep 1; kill -9 $PPID; sleep 5", timeout: 30)
            XCTAssertEqual(killed.out, "up\n", killed.err)
            XCTAssertTrue(killed.err.contains("connection to the upstream host was lost"), killed.err + "\n" + proxy.log)
        }
        let tooMany = try Clients(port: proxy.port).ssh(
            "sbt-strict", "wrong-password", "true", options: ["-o", "NumberOfPasswordPrompts=4"], timeout: 60)
        XCTAssertNotEqual(tooMany.status, 0)

        for transfer in transfers {
            let result = try transfer.wait(timeout: 60)
            XCTAssertEqual(result.status, 0, result.err)
            XCTAssertEqual(result.out.prefix(64), expected, "another user's data was damaged")
        }
        let fresh = try clients.ssh(TestUsers.bob.name, TestUsers.bob.password, "echo fine")
        XCTAssertEqual(fresh.out, "fine\n", fresh.err)

        // The proxy is strace's child: end it with SIGTERM so strace writes the whole log.
        let children = try String(contentsOfFile: "/proc/\(proxy.pid)/task/\(proxy.pid)/children", encoding: .utf8)
        let proxyPID = try XCTUnwrap(Int32(children.split(separator: " ").first ?? ""))
        kill(proxyPID, SIGTERM)
        _ = try proxy.waitForExit(timeout: 40)
        let analysis = DescriptorTrace(log: try String(contentsOfFile: trace.path, encoding: .utf8))
        XCTAssertGreaterThan(analysis.closes, 20, "the trace saw the proxy's closes")
        XCTAssertEqual(analysis.doubleCloses.map(\.description), [], "a descriptor was closed twice by one connection")
    }
}
