import XCTest

@testable import RouteStore

final class RouteValidationTests: XCTestCase {
    func testParsesUpstreamAddresses() throws {
        XCTAssertEqual(try HostPort(parsing: "10.0.0.5"), HostPort(host: "10.0.0.5", port: 22))
        XCTAssertEqual(try HostPort(parsing: "10.0.0.5:2222"), HostPort(host: "10.0.0.5", port: 2222))
        XCTAssertEqual(try HostPort(parsing: "db.internal:22"), HostPort(host: "db.internal", port: 22))
        XCTAssertEqual(try HostPort(parsing: "host_alice"), HostPort(host: "host_alice", port: 22))
        XCTAssertEqual(try HostPort(parsing: "[::1]:22"), HostPort(host: "::1", port: 22))
        XCTAssertEqual(try HostPort(parsing: "[fe80::1]"), HostPort(host: "fe80::1", port: 22))
        XCTAssertEqual(HostPort(host: "::1", port: 2200).description, "[::1]:2200")
    }

    func testRejectsMalformedAddresses() {
        let bad = ["", ":22", "host:", "host:0", "host:65536", "host:abc", "::1", "[::1", "[nothost]:22", "[::1]x",
                   "a b", "a;b", "-host", "host-", "a..b", "999.1.1.1", "host:22:33", "\"quoted\""]
        for text in bad {
            XCTAssertThrowsError(try HostPort(parsing: text), "accepted \(text)")
        }
    }

    func testUserNames() {
        for good in ["alice", "bob.smith", "deploy_1", "a-b", "A1"] {
            XCTAssertNoThrow(try RouteValidation.login(good), good)
        }
        for bad in ["", "a b", "a;b", "a'b", "a\"b", "-a", ".a", "a$b", "a\\b", "a\nb", "a/b", "a@b", "é",
                    String(repeating: "a", count: 65)] {
            XCTAssertThrowsError(try RouteValidation.login(bad), "accepted \(bad)")
            XCTAssertThrowsError(try RouteValidation.upstreamUser(bad), "accepted \(bad)")
        }
    }

    func testErrorMessagesShowControlCharactersVisibly() {
        let message = RouteStoreError.invalidLogin("a\u{1b}[2Jb", reason: "x").description
        XCTAssertFalse(message.contains("\u{1b}"))
        XCTAssertTrue(message.contains("\\u{1b}"))
    }
}
