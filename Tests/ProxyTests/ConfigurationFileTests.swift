import XCTest

@testable import Proxy

/// The YAML configuration file's text, read without touching the disk.
final class ConfigurationFileTests: XCTestCase {
    private func values(_ text: String) throws -> [String] {
        try ConfigurationFile.values(parsing: text, file: "test.yaml").map { "\($0.key)=\($0.text)" }
    }

    private func message(_ text: String) -> String {
        do {
            _ = try ConfigurationFile.layer(parsing: text, file: "test.yaml")
            return "no error"
        } catch {
            return error.message
        }
    }

    func testValuesAreTheTextWrittenListsAreCommaSeparatedNullIsLeftOut() throws {
        XCTAssertEqual(try values("host_key_policy: off\nidle_timeout: 600\ntrusted_proxies: [10.0.0.0/8, 192.0.2.1]\nban_time:\n"),
                       ["host_key_policy=off", "idle_timeout=600", "trusted_proxies=10.0.0.0/8,192.0.2.1"])
        XCTAssertEqual(try values(""), [], "an empty file changes nothing")
        XCTAssertEqual(try values("# only a comment\n"), [])
    }

    func testAParsedLayerAppliesLikeAnyOther() throws {
        let layer = try ConfigurationFile.layer(parsing: "idle_timeout: 600\nmax_auth_tries: 4\n", file: "test.yaml")
        let settings = try ProxySettings.resolve([layer])
        XCTAssertEqual(settings[.idleTimeout], 600)
        XCTAssertEqual(settings[.maxAuthTries], 4)
    }

    func testErrorsNameTheFile() {
        XCTAssertTrue(message("idel_timeout: 5\n").hasPrefix("test.yaml: unknown setting \"idel_timeout\""), message("idel_timeout: 5\n"))
        XCTAssertEqual(message("- just\n- a list\n"), "test.yaml: expected a mapping of settings")
        XCTAssertEqual(message("listen: {host: x}\n"), "test.yaml: listen: expected a value, not a mapping")
        XCTAssertEqual(message("trusted_proxies: [[10.0.0.0/8]]\n"), "test.yaml: trusted_proxies: expected a list of values")
        XCTAssertEqual(message("[a]: 1\n"), "test.yaml: setting names must be plain words")
        XCTAssertTrue(message("idle_timeout: [\n").hasPrefix("test.yaml: not valid YAML"), message("idle_timeout: [\n"))
    }
}
