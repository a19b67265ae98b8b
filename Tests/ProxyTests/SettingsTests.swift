import Foundation
import Logging
import RouteStore
import XCTest

@testable import Proxy

/// `serve` settings: declared once, layered flag > environment > file > default, validated,
/// and reloaded one by one; the README's table is the declarations' table.
final class SettingsTests: XCTestCase {
    private func resolve(file: [(String, String)] = [], environment: [String: String] = [:], flags: [String] = []) throws -> ProxySettings {
        try ProxySettings.resolve([
            try SettingsLayer(file: "test.yaml", values: file.map { (key: $0.0, text: $0.1) }),
            SettingsLayer(environment: environment),
            try SettingsLayer(arguments: flags),
        ])
    }

    private func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testDefaultsComeFromTheDeclarations() throws {
        let settings = try resolve()
        XCTAssertEqual(settings[.listen], HostPort(host: "0.0.0.0", port: 2222))
        XCTAssertEqual(settings[.loginGraceTime], 30)
        XCTAssertEqual(settings[.maxConnections], 4096)
        XCTAssertEqual(settings[.hostKeyPolicy], .acceptNew)
        XCTAssertNil(settings[.metricsListen])
        XCTAssertFalse(settings[.proxyProtocol])
        XCTAssertEqual(settings[.logLevel], .info)
    }

    func testFlagsBeatTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws {
        let settings = try resolve(
            file: [("idle_timeout", "100"), ("max_auth_tries", "4"), ("ban_time", "50")],
            environment: ["SWITCHBOARD_IDLE_TIMEOUT": "200", "SWITCHBOARD_MAX_AUTH_TRIES": "3", "SWITCHBOARD_BAN_WINDOW": ""],
            flags: ["--max-auth-tries", "2", "--proxy-protocol", "--trusted-proxies=10.0.0.0/8,::1"])
        XCTAssertEqual(settings[.idleTimeout], 200, "environment over file")
        XCTAssertEqual(settings[.maxAuthTries], 2, "flag over environment and file")
        XCTAssertEqual(settings[.banTime], 50, "file over default")
        XCTAssertEqual(settings[.banWindow], 60, "an empty variable is ignored")
        XCTAssertEqual(settings[.loginGraceTime], 30, "default")
        XCTAssertTrue(settings[.proxyProtocol])
        XCTAssertEqual(settings[.trustedProxies].map(\.description), ["10.0.0.0/8", "::1"])
    }

    func testBadValuesNameTheSettingAndWhereTheyCameFrom() {
        XCTAssertTrue(message { try self.resolve(file: [("idel_timeout", "5")]) }.contains("test.yaml: unknown setting \"idel_timeout\""))
        XCTAssertTrue(message { try self.resolve(file: [("max_auth_tries", "lots")]) }.contains("test.yaml: max_auth_tries: expected a whole number"))
        XCTAssertTrue(message { try self.resolve(environment: ["SWITCHBOARD_RECORD_INPUT": "maybe"]) }.contains("SWITCHBOARD_RECORD_INPUT: expected true or false"))
        XCTAssertTrue(message { try self.resolve(flags: ["--ban-window", "0"]) }.contains("ban_window: must be at least 1"))
        XCTAssertTrue(message { try self.resolve(flags: ["--listen", "[::1"]) }.contains("--listen"))
        XCTAssertTrue(message { try self.resolve(flags: ["--listen"]) }.contains("--listen needs a value"))
        XCTAssertTrue(message { try self.resolve(flags: ["--nonsense", "1"]) }.contains("unknown option"))
        XCTAssertTrue(message { try self.resolve(flags: ["--proxy-protocol"]) }.contains("--trusted-proxies"))
        XCTAssertTrue(message { try self.resolve(flags: ["--trusted-proxies", "not-a-cidr"]) }.contains("invalid trusted proxy"))
        XCTAssertTrue(message { try self.resolve(flags: ["--log-format", "xml"]) }.contains("--log-format: must be one of text, json"))
        XCTAssertTrue(message { try self.resolve(flags: ["--host-key-policy", "sometimes"]) }.contains("strict, accept-new, off"))
    }

    func testListenAddressesUseTheirOwnDefaultPorts() throws {
        let settings = try resolve(flags: ["--listen", "127.0.0.1", "--metrics-listen", "127.0.0.1"])
        XCTAssertEqual(settings[.listen].port, 2222)
        XCTAssertEqual(settings[.metricsListen]?.port, 9222)
    }

    func testAReloadAppliesLiveSettingsAndReportsEveryOtherChange() throws {
        let running = try resolve(flags: ["--idle-timeout", "0", "--ban-after", "0", "--listen", "127.0.0.1:2200"])
        let edited = try resolve(flags: [
            "--idle-timeout", "2", "--ban-after", "5", "--listen", "127.0.0.1:2201", "--record-dir", "/tmp/rec", "--log-format", "json",
        ])
        let (settings, applied, needsRestart) = running.reloaded(with: edited)
        XCTAssertEqual(applied, ["idle_timeout", "record_dir"])
        XCTAssertEqual(needsRestart, ["listen", "ban_after", "log_format"])
        XCTAssertEqual(settings[.idleTimeout], 2)
        XCTAssertEqual(settings[.recordDir], "/tmp/rec")
        XCTAssertEqual(settings[.listen].port, 2200, "a setting that needs a restart keeps its running value")
        XCTAssertEqual(settings[.banAfter], 0)
        XCTAssertEqual(running.reloaded(with: running).applied, [])
    }

    func testEverySettingHasAUniqueNameAHelpTextAndADefaultThatReadsBack() throws {
        let names = SettingsCatalog.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        for setting in SettingsCatalog.all {
            XCTAssertFalse(setting.help.isEmpty, setting.name)
            XCTAssertTrue(setting.name.allSatisfy { $0.isLowercase || $0 == "_" }, setting.name)
            var settings = ProxySettings()
            guard let text = setting.value(in: settings) else { continue }
            XCTAssertNoThrow(try setting.read(text, into: &settings), "\(setting.name): \(text)")
            XCTAssertFalse(setting.differs(between: ProxySettings(), and: settings), "\(setting.name) does not read back its own text")
        }
    }

    func testCheckConfigPrintsAFileThatGivesTheSameSettings() throws {
        let settings = try resolve(flags: ["--listen", "[::]:2222", "--trusted-proxies", "10.0.0.0/8,2001:db8::/32", "--proxy-protocol"])
        let printed = settings.description
        XCTAssertTrue(printed.hasPrefix("listen: \"[::]:2222\"\n"), printed)
        XCTAssertTrue(printed.contains("\ntrusted_proxies: 10.0.0.0/8,2001:db8::/32\n"), printed)
        XCTAssertTrue(printed.contains("\nidle_timeout: 0\n"), "plain values stay plain: \(printed)")
        let again = try ProxySettings.resolve([ConfigurationFile.layer(parsing: printed, file: "printed.yaml")])
        XCTAssertEqual(again.description, printed)
    }

    /// Found by the fuzzer: a literal block keeps its final line break, which the printout lost.
    func testCheckConfigShowsAValueWithALineBreakQuoted() throws {
        let settings = try ProxySettings.resolve([ConfigurationFile.layer(parsing: "record_dir: |\n  /var/lib/switchboard\n", file: "test.yaml")])
        let printed = settings.description
        XCTAssertTrue(printed.contains("\nrecord_dir: \"/var/lib/switchboard\\u000A\"\n"), printed)
        let again = try ProxySettings.resolve([ConfigurationFile.layer(parsing: printed, file: "printed.yaml")])
        XCTAssertEqual(again[.recordDir], "/var/lib/switchboard\n")
    }

    func testTheReadmeTableIsTheDeclarationsTable() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "<!-- settings table: generated from SettingsCatalog; edit the declarations -->\n"))
        let end = try XCTUnwrap(text.range(of: "\n<!-- end of settings table -->", range: start.upperBound..<text.endIndex))
        let table = String(text[start.upperBound..<end.lowerBound])
        XCTAssertEqual(table, SettingsCatalog.markdownTable, "README.md's settings table differs from the declarations; it should read:\n\(SettingsCatalog.markdownTable)")
    }
}
