import Foundation
import XCTest

/// Sessions through the proxy behave as a direct login does: exit codes, streams, EOF,
/// file transfer, a real terminal, multiplexed channels.
final class RelayTests: XCTestCase {
    private var lab: Lab!
    private var user: String { TestUsers.alice.name }
    private var password: String { TestUsers.alice.password }

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    func testExitStatusComesBack() throws {
        XCTAssertEqual(try lab.clients.ssh(user, password, "exit 42").status, 42)
        XCTAssertEqual(try lab.clients.ssh(user, password, "true").status, 0)
    }

    func testStdoutAndStderrStayApart() throws {
        let result = try lab.clients.ssh(user, password, "echo to-out; echo to-err >&2; echo more-out")
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.out, "to-out\nmore-out\n")
        XCTAssertEqual(result.err, "to-err\n")
    }

    func testStdinEOFEndsTheRemoteCommand() throws {
        let result = try lab.clients.ssh(user, password, "cat", stdin: Data("abc".utf8), timeout: 20)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(result.out, "abc")
        let counted = try lab.clients.ssh(user, password, "wc -c", stdin: Data(repeating: 7, count: 3 << 20), timeout: 60)
        XCTAssertEqual(counted.out.trimmingCharacters(in: .whitespacesAndNewlines), String(3 << 20))
    }

    func testExitSignalIsForwarded() throws {
        let direct = try Command.run(
            Programs.sshpass, ["-e", Programs.ssh] + Clients.commonOptions
                + ["-p", String(lab.upstreamA.port), "\(user)@127.0.0.1", "kill -TERM $$"],
            environment: ProcessInfo.processInfo.environment.merging(["SSHPASS": password]) { $1 })
        let proxied = try lab.clients.ssh(user, password, "kill -TERM $$")
        XCTAssertEqual(proxied.status, direct.status)
        XCTAssertEqual(proxied.status, 255)
    }

    func testScpTwentyMebibytesBothWays() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-scp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let random = try XCTUnwrap(FileHandle(forReadingAtPath: "/dev/urandom"))
        let payload = random.readData(ofLength: 20 << 20)
        XCTAssertEqual(payload.count, 20 << 20)
        let local = scratch.appendingPathComponent("payload.bin").path
        try payload.write(to: URL(fileURLWithPath: local))
        let remote = "/tmp/sb-scp-\(UUID().uuidString).bin"

        let upload = try lab.clients.scp(password, local, "\(user)@127.0.0.1:\(remote)")
        XCTAssertEqual(upload.status, 0, upload.err)
        let back = scratch.appendingPathComponent("back.bin").path
        let download = try lab.clients.scp(password, "\(user)@127.0.0.1:\(remote)", back)
        XCTAssertEqual(download.status, 0, download.err)
        _ = try lab.clients.ssh(user, password, "rm -f \(remote)")

        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: back)), payload)
        let remoteSum = try Command.run("/usr/bin/sha256sum", [local]).out.prefix(64)
        let backSum = try Command.run("/usr/bin/sha256sum", [back]).out.prefix(64)
        XCTAssertEqual(remoteSum, backSum)
    }

    func testSftpSession() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-sftp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let local = scratch.appendingPathComponent("note.txt").path
        try "hello over sftp\n".write(toFile: local, atomically: true, encoding: .utf8)
        let remoteDirectory = "sb-sftp-\(UUID().uuidString)"
        let result = try lab.clients.sftp(user, password, batch: """
            mkdir \(remoteDirectory)
            put \(local) \(remoteDirectory)/note.txt
            ls \(remoteDirectory)
            get \(remoteDirectory)/note.txt \(scratch.path)/copy.txt
            rm \(remoteDirectory)/note.txt
            rmdir \(remoteDirectory)

            """)
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("note.txt"), result.out)
        XCTAssertEqual(try String(contentsOfFile: scratch.path + "/copy.txt", encoding: .utf8), "hello over sftp\n")
    }

    func testRsyncThroughTheProxy() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sb-rsync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("tree/sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "one\n".write(to: scratch.appendingPathComponent("tree/one.txt"), atomically: true, encoding: .utf8)
        try Data(repeating: 9, count: 1 << 20).write(to: scratch.appendingPathComponent("tree/sub/blob.bin"))
        let remote = "/tmp/sb-rsync-\(UUID().uuidString)"
        let push = try lab.clients.rsync(password, scratch.path + "/tree/", "\(user)@127.0.0.1:\(remote)/")
        XCTAssertEqual(push.status, 0, push.err)
        let listing = try lab.clients.ssh(user, password, "cd \(remote) && find . -type f | sort && cat one.txt && wc -c < sub/blob.bin; rm -rf \(remote)")
        XCTAssertEqual(listing.out, "./one.txt\n./sub/blob.bin\none\n1048576\n", listing.err)
    }

    func testMultiplexedChannelsOverOneConnection() throws {
        let controlPath = "/tmp/sb-cm-\(UUID().uuidString.prefix(8))"
        let master = try lab.clients.startSSH(user, password, "", options: [
            "-o", "ControlMaster=yes", "-o", "ControlPath=\(controlPath)", "-N",
        ])
        defer { master.terminate() }
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: controlPath) && Date() < deadline && master.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: controlPath), master.stderrSoFar)

        let runs = try (1...4).map { index in
            try Command.start(Programs.ssh, Clients.commonOptions + [
                "-o", "ControlPath=\(controlPath)", "-o", "ControlMaster=no", "-p", String(lab.proxy.port),
                "\(user)@127.0.0.1", "echo channel-\(index); echo err-\(index) >&2; exit \(index)",
            ])
        }
        for (offset, run) in runs.enumerated() {
            let result = try run.wait(timeout: 30)
            XCTAssertEqual(result.status, Int32(offset + 1), result.err)
            XCTAssertEqual(result.out, "channel-\(offset + 1)\n")
            XCTAssertEqual(result.err, "err-\(offset + 1)\n")
        }
    }

    func testInteractivePTYSeesItsSizeAndResizes() throws {
        let socket = "sb-\(UUID().uuidString.prefix(8))"
        let marker = "/tmp/sb-pty-\(UUID().uuidString)"
        let tmux = { (arguments: [String]) throws -> CommandResult in
            try Command.run(Programs.tmux, ["-L", socket] + arguments, timeout: 15)
        }
        defer { _ = try? tmux(["kill-server"]) }
        let login = (["SSHPASS=\(password)", Programs.sshpass, "-e"] + lab.clients.sshCommandLine + ["-t", "\(user)@127.0.0.1"])
            .joined(separator: " ")
        let started = try tmux(["new-session", "-d", "-s", "pty", "-x", "100", "-y", "30", "\(login); echo exit=$? > \(marker)"])
        XCTAssertEqual(started.status, 0, started.err)

        func screen() throws -> String { try tmux(["capture-pane", "-p", "-t", "pty"]).out }
        func waitFor(_ text: String) throws {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if try screen().contains(text) { return }
                Thread.sleep(forTimeInterval: 0.1)
            }
            XCTFail("screen never showed \(text):\n\(try screen())")
        }
        try waitFor("$")
        _ = try tmux(["send-keys", "-t", "pty", "echo size=$(stty size) tty=$(tty) up=$SWITCHBOARD_UPSTREAM", "Enter"])
        try waitFor("size=30 100 tty=/dev/pts/")
        XCTAssertTrue(try screen().contains("up=upstream-a"))

        _ = try tmux(["resize-window", "-t", "pty", "-x", "120", "-y", "40"])
        Thread.sleep(forTimeInterval: 0.5)
        _ = try tmux(["send-keys", "-t", "pty", "echo resized=$(stty size)", "Enter"])
        try waitFor("resized=40 120")

        _ = try tmux(["send-keys", "-t", "pty", "exit 3", "Enter"])
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !FileManager.default.fileExists(atPath: marker) { Thread.sleep(forTimeInterval: 0.1) }
        defer { try? FileManager.default.removeItem(atPath: marker) }
        XCTAssertEqual(try String(contentsOfFile: marker, encoding: .utf8), "exit=3\n")
    }
}
