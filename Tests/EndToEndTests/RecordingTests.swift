import Foundation
import XCTest

/// Interactive sessions are recorded as asciicast v2 files (output and resizes; input only on
/// request), named by audit id, private, and playable with `sessions replay` and asciinema.
final class RecordingTests: XCTestCase {
    private var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab.shared()
    }

    /// Runs an interactive login in tmux that prints a marker, resizes, and exits.
    private func interactiveSession(port: Int, login: String) throws {
        let socket = "sbrec-\(UUID().uuidString.prefix(6))"
        let tmux = { (arguments: [String]) throws -> CommandResult in
            try Command.run(Programs.tmux, ["-L", socket] + arguments, timeout: 15)
        }
        defer { _ = try? tmux(["kill-server"]) }
        let done = "/tmp/\(socket).done"
        defer { try? FileManager.default.removeItem(atPath: done) }
        let command = (["SSHPASS=\(TestUsers.alice.password)", Programs.sshpass, "-e"]
            + Clients(port: port).sshCommandLine + ["-t", "\(login)@127.0.0.1"]).joined(separator: " ")
        XCTAssertEqual(try tmux(["new-session", "-d", "-s", "rec", "-x", "90", "-y", "25", "\(command); touch \(done)"]).status, 0)
        func waitForScreen(_ text: String) throws {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if try tmux(["capture-pane", "-p", "-t", "rec"]).out.contains(text) { return }
                Thread.sleep(forTimeInterval: 0.1)
            }
            XCTFail("never saw \(text)")
        }
        try waitForScreen("$")
        _ = try tmux(["send-keys", "-t", "rec", "echo recorded-$((6*7))", "Enter"])
        try waitForScreen("recorded-42")
        _ = try tmux(["resize-window", "-t", "rec", "-x", "120", "-y", "40"])
        Thread.sleep(forTimeInterval: 0.5)
        _ = try tmux(["send-keys", "-t", "rec", "exit", "Enter"])
        let deadline = Date().addingTimeInterval(15)
        while !FileManager.default.fileExists(atPath: done) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
    }

    func testTerminalSessionsAreRecordedAndReplay() throws {
        let recordDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-rec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: recordDirectory) }
        let proxy = try ProxyProcess(arguments: ["--record-dir", recordDirectory, "--ban-after", "0"],
                                     routes: [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)])
        try interactiveSession(port: proxy.port, login: TestUsers.alice.name)

        let out = try proxy.mustAdmin(["sessions", "--json"])
        let session = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])?.first)
        let id = try XCTUnwrap(session["id"] as? Int)
        let path = try XCTUnwrap(session["recording_path"] as? String)
        XCTAssertEqual(path, "\(recordDirectory)/\(id).cast")
        XCTAssertTrue(try proxy.mustAdmin(["sessions", "show", String(id)]).contains(path))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o600)

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(header["version"] as? Int, 2)
        XCTAssertEqual(header["width"] as? Int, 90)
        XCTAssertEqual(header["height"] as? Int, 25)
        let events = try lines.dropFirst().map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any]) }
        XCTAssertTrue(events.contains { $0[1] as? String == "o" && ($0[2] as? String ?? "").contains("recorded-42") })
        XCTAssertTrue(events.contains { $0[1] as? String == "r" && $0[2] as? String == "120x40" })
        XCTAssertFalse(events.contains { $0[1] as? String == "i" }, "input is recorded only with --record-input")
        let times = events.compactMap { ($0[0] as? NSNumber)?.doubleValue }
        XCTAssertEqual(times, times.sorted())

        let replay = try proxy.admin(["sessions", "replay", String(id), "--speed", "50"])
        XCTAssertEqual(replay.status, 0, replay.err)
        XCTAssertTrue(replay.out.contains("recorded-42"))
        let asciinema = try Command.run("/usr/bin/env", ["asciinema", "cat", path], timeout: 30)
        XCTAssertEqual(asciinema.status, 0, asciinema.err)
        XCTAssertTrue(asciinema.out.contains("recorded-42"))

        try proxy.mustAdmin(["route", "set", TestUsers.alice.name, "--record", "off"])
        let before = try FileManager.default.contentsOfDirectory(atPath: recordDirectory).count
        try interactiveSession(port: proxy.port, login: TestUsers.alice.name)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: recordDirectory).count, before, "a route with --record off was recorded")
    }

    func testARequiredRecordingThatCannotBeWrittenRefusesTheTerminal() throws {
        // A record directory below a plain file cannot be created.
        let scratch = try TemporaryPath(prefix: "sb-record-blocked", create: true)
        let blocker = scratch.path + "/file"
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: blocker))
        let route = [RouteSpec(TestUsers.alice.name, to: lab.upstreamA)]
        let lenient = try ProxyProcess(arguments: ["--ban-after", "0", "--record-dir", blocker + "/recordings"], routes: route)
        let unrecorded = try Clients(port: lenient.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo ran", options: ["-tt"])
        XCTAssertEqual(unrecorded.out.trimmingCharacters(in: .whitespacesAndNewlines), "ran", unrecorded.err)

        let strict = try ProxyProcess(
            arguments: ["--ban-after", "0", "--record-dir", blocker + "/recordings", "--record-required"], routes: route)
        let refused = try Clients(port: strict.port).ssh(TestUsers.alice.name, TestUsers.alice.password, "echo ran", options: ["-tt"])
        XCTAssertEqual(refused.status, 255)
        XCTAssertFalse(refused.out.contains("ran"), refused.out)
        XCTAssertTrue((refused.out + refused.err).contains("must be recorded"), refused.out + refused.err)
        XCTAssertTrue(strict.log.contains("reason=create-error"), strict.log)
    }
}

