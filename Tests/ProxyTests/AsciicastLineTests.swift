import Foundation
import XCTest

@testable import Proxy

/// Event lines are written by hand for speed; they must read back, with JSON's own parser, as
/// exactly the text and time they were made from.
final class AsciicastLineTests: XCTestCase {
    func testEventLinesReadBackAsTheirTextAndTime() throws {
        var generator = SystemRandomNumberGenerator()
        let samples = ["", "plain", "quote \" backslash \\ slash /", "\r\n\t\u{1B}[31mred\u{1B}[0m\u{07}\u{08}\u{0C}\u{00}\u{1F}\u{7F}",
                       "ünïcødé ✓ 🎉 \u{2028}\u{2029}", "</script><img src=x onerror=alert(1)>"]
            + (0..<200).map { _ in
                String(decoding: (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) },
                       as: UTF8.self)
            }
        for (index, text) in samples.enumerated() {
            let elapsed = Duration.microseconds(Int64(index) * 1_234_567 + 7)
            let line = try XCTUnwrap(AsciicastLine.event(.output, text, after: elapsed))
            XCTAssertFalse(line.contains(0x0A), "one event is one line")
            let event = try XCTUnwrap(JSONSerialization.jsonObject(with: line) as? [Any], String(decoding: line, as: UTF8.self))
            XCTAssertEqual(event.count, 3)
            XCTAssertEqual(event[1] as? String, "o")
            XCTAssertEqual(event[2] as? String, text)
            let seconds = try XCTUnwrap((event[0] as? NSNumber)?.doubleValue)
            XCTAssertEqual(seconds, Double(index) * 1.234567 + 0.000007, accuracy: 1e-9)
        }
        XCTAssertEqual(String(decoding: try XCTUnwrap(AsciicastLine.event(.resize, "80x24", after: .seconds(2))), as: UTF8.self), "[2,\"r\",\"80x24\"]")
        XCTAssertEqual(
            String(decoding: try XCTUnwrap(AsciicastLine.event(.output, "a", after: .milliseconds(1500))), as: UTF8.self), "[1.5,\"o\",\"a\"]")
    }
}
