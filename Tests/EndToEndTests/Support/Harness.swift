import Foundation

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh path under the temporary directory, held by the fixtures that use it. Whatever ends
/// up there (host private keys, route keys, databases, logs) is deleted, with the path itself,
/// as soon as the last holder lets go of it.
final class TemporaryPath {
    let path: String
    var url: URL { URL(fileURLWithPath: path) }

    /// A new path named PREFIX-UUID; `create` makes it an empty directory, otherwise nothing is
    /// created (the program that uses it does).
    init(prefix: String, create: Bool = false) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        if create { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Linux accounts the upstream sshd's authenticate against. Created once (the tests run as root).
enum TestUsers {
    static let alice = (name: "sbt-alice", password: "alice-Pw-41")
    static let bob = (name: "sbt-bob", password: "bob-Pw-42")
    static let deploy = (name: "sbt-deploy", password: "deploy-Pw-43")

    static func ensure() throws {
        guard getuid() == 0 else { throw HarnessError("end-to-end tests create test users and run sshd: run them as root") }
        for user in [alice, bob, deploy] {
            if getpwnam(user.name) == nil {
                let add = try Command.run("/usr/sbin/useradd", ["--create-home", "--shell", "/bin/bash", user.name])
                guard add.status == 0 else { throw HarnessError("useradd \(user.name): \(add.err)") }
            }
            let chpasswd = try Command.run("/usr/sbin/chpasswd", [], stdin: Data("\(user.name):\(user.password)\n".utf8))
            guard chpasswd.status == 0 else { throw HarnessError("chpasswd \(user.name): \(chpasswd.err)") }
        }
    }
}

/// Picks loopback ports and waits for listeners.
enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw HarnessError("cannot bind a free port") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func isListening(port: Int) -> Bool {
        guard let fd = connectRaw(port: port) else { return false }
        close(fd)
        return true
    }

    /// A plain TCP connection to 127.0.0.1:`port` (the caller closes it), or nil if refused.
    /// `source` picks another loopback address to come from, e.g. 127.0.0.2.
    static func connectRaw(port: Int, from source: String? = nil) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                return nil
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    static func waitUntilListening(port: Int, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isListening(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("nothing listens on 127.0.0.1:\(port) after \(timeout)s")
    }
}

/// Paths of the programs under test and the clients that drive them.
enum Programs {
    /// The `switchboard` binary built next to this test bundle.
    static var switchboard: String {
        if let override = ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"] { return override }
        let candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("switchboard"),
            Bundle.main.bundleURL.appendingPathComponent("switchboard"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("switchboard"),
        ]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate.path
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/switchboard").path
    }

    static let ssh = "/usr/bin/ssh"
    static let scp = "/usr/bin/scp"
    static let sftp = "/usr/bin/sftp"
    static let sshpass = "/usr/bin/sshpass"
    static let rsync = "/usr/bin/rsync"
    static let tmux = "/usr/bin/tmux"

    /// A script in Tests/HostilePeers: clients that break the protocol's rules on purpose.
    static func hostilePeer(_ name: String) -> String { testScript("HostilePeers/\(name)") }

    /// A script in Tests/ParityClients: an independent client that does the same thing against
    /// sshd directly and through the proxy, so the two can be compared.
    static func parityClient(_ name: String) -> String { testScript("ParityClients/\(name)") }

    /// A script in Tests/AdminAPI or Tests/Console: the admin API and the web console driven
    /// over real HTTP and in a real browser.
    static func adminScript(_ path: String) -> String { testScript(path) }

    private static func testScript(_ path: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(path).path
    }
}
