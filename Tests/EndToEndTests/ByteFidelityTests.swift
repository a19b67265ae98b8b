import Foundation
import XCTest

/// Strings that SSH carries as bytes stay bytes through the proxy, UTF-8 or not.
final class ByteFidelityTests: XCTestCase {
    /// A Latin-1 password logs in, and a Latin-1 environment value and command arrive with the
    /// same bytes as when sent to sshd directly (once they arrived as U+FFFD's UTF-8).
    func testPasswordsEnvironmentAndCommandsKeepTheirBytes() throws {
        let lab = try Lab.shared()
        let user = "sbt-latin"
        let password: [UInt8] = Array("caf".utf8) + [0xE9] + Array("-Pw-44".utf8)
        if getpwnam(user) == nil {
            let add = try Command.run("/usr/sbin/useradd", ["--create-home", "--shell", "/bin/bash", user])
            XCTAssertEqual(add.status, 0, add.err)
        }
        let chpasswd = try Command.run("/usr/sbin/chpasswd", [], stdin: Data(Array("\(user):".utf8) + password + [0x0A]))
        XCTAssertEqual(chpasswd.status, 0, chpasswd.err)
        let proxy = try ProxyProcess(arguments: [], routes: [RouteSpec(user, to: lab.upstreamA)])
        let hex = password.map { String(format: "%02x", $0) }.joined()
        let run = { (port: Int) in
            try Command.run("/usr/bin/env", ["python3", Programs.parityClient("raw_bytes.py"), String(port), user, hex], timeout: 60)
        }
        let direct = try run(lab.upstreamA.port)
        XCTAssertEqual(direct.out, "63 61 66 e9 63 61 66 e9\n", "sshd itself: \(direct.err)")
        let throughProxy = try run(proxy.port)
        XCTAssertEqual(throughProxy.out, direct.out, throughProxy.err + proxy.log)
    }
}
