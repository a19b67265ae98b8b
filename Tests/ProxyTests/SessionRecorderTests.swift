import Foundation
import XCTest

@testable import Proxy

/// The asciicast recorder: text events never split a UTF-8 character, input only when asked.
final class SessionRecorderTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-recorder-\(UUID().uuidString)").path
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func events(of recorder: SessionRecorder) throws -> [[Any]] {
        let lines = try String(contentsOfFile: recorder.path, encoding: .utf8).split(separator: "\n").dropFirst()
        return try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any]) }
    }

    func testACharacterSplitAcrossReadsIsWrittenWholeInTheLaterEvent() throws {
        let recorder = try SessionRecorder(directory: directory, name: "1", columns: 80, rows: 24, terminal: "xterm", recordsInput: false)
        let text = Array("añ€😀".utf8)  // 1-, 2-, 3- and 4-byte characters
        recorder.output(text[0..<2])  // "a" and the first byte of "ñ"
        recorder.output(text[2..<5])  // the rest of "ñ" and two bytes of "€"
        recorder.output(text[5..<8])  // the last byte of "€" and two of "😀"
        recorder.output(text[8...])
        let outputs = try events(of: recorder).map { $0[2] as? String }
        XCTAssertEqual(outputs, ["a", "ñ", "€", "😀"])
        XCTAssertEqual(outputs.compactMap { $0 }.joined(), "añ€😀")
    }

    func testInputIsRecordedOnlyWhenAskedAndResizesAlways() throws {
        let quiet = try SessionRecorder(directory: directory, name: "2", columns: 80, rows: 24, terminal: "xterm", recordsInput: false)
        quiet.input(Array("secret".utf8))
        quiet.resize(columns: 100, rows: 30)
        XCTAssertEqual(try events(of: quiet).map { $0[1] as? String }, ["r"])
        XCTAssertEqual(try events(of: quiet).first?[2] as? String, "100x30")

        let full = try SessionRecorder(directory: directory, name: "3", columns: 80, rows: 24, terminal: "xterm", recordsInput: true)
        full.input(Array("ls\r".utf8))
        XCTAssertEqual(try events(of: full).map { $0[1] as? String }, ["i"])
    }

    func testARecordingStopsAtItsSizeLimitWithAMarker() throws {
        var stops: [String] = []
        let recorder = try SessionRecorder(
            directory: directory, name: "5", columns: 80, rows: 24, terminal: "xterm", recordsInput: false, maximumBytes: 2000,
            stopped: { stops.append($0) })
        for _ in 0..<20 { recorder.output(Array(String(repeating: "y", count: 200).utf8)) }
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: recorder.path)[.size] as? Int)
        XCTAssertLessThanOrEqual(size, 2000)
        XCTAssertEqual(stops, ["size-limit"], "told once")
        XCTAssertEqual(try events(of: recorder).last?[1] as? String, "m")
        XCTAssertEqual(recorder.stopReason, "size-limit")
    }

    func testBinaryOutputLosesOnlyTheControlCharactersNoTerminalDraws() throws {
        let recorder = try SessionRecorder(directory: directory, name: "6", columns: 80, rows: 24, terminal: "xterm", recordsInput: false)
        recorder.output([0x61, 0x00, 0x00, 0x01, 0x62, 0x1B, 0x5B, 0x31, 0x6D, 0x0D, 0x0A, 0x08, 0x07])
        XCTAssertEqual(try events(of: recorder).first?[2] as? String, "ab\u{1B}[1m\r\n\u{08}\u{07}")
    }

    func testNoRecordingStartsWhenTheDirectoryIsFull() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(count: 5000).write(to: URL(fileURLWithPath: directory + "/1.cast"))
        var failures: [String] = []
        let plan = RecordingPlan(
            directory: directory, auditID: 2, recordsInput: false,
            limits: .init(maximumFileBytes: 1 << 20, maximumTotalBytes: 4096), required: false,
            failed: { failures.append($0) }, firstRecorded: { _ in })
        XCTAssertThrowsError(try plan.makeRecorder(columns: 80, rows: 24, terminal: "xterm"))
        XCTAssertEqual(failures, ["total-size-limit"])
    }

    func testTheFileIsPrivateAndNeverOverwritten() throws {
        let recorder = try SessionRecorder(directory: directory, name: "4", columns: 80, rows: 24, terminal: "xterm", recordsInput: false)
        let mode = try FileManager.default.attributesOfItem(atPath: recorder.path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertThrowsError(try SessionRecorder(directory: directory, name: "4", columns: 80, rows: 24, terminal: "xterm", recordsInput: false))
    }
}

/// Replaying a recording cannot set the admin's window title or clipboard.
final class ReplayFilterTests: XCTestCase {
    func testControlStringsAreDroppedAndColoursKept() {
        var filter = ReplayFilter()
        let recorded = "\u{1B}[31mred\u{1B}[0m \u{1B}]0;owned title\u{07}ok \u{1B}]52;c;ZXZpbA==\u{1B}\\done \u{9D}8bit\u{9C}!"
        XCTAssertEqual(filter.filter(recorded), "\u{1B}[31mred\u{1B}[0m ok done !")
    }

    func testAControlStringSplitAcrossEventsIsDroppedWhole() {
        var filter = ReplayFilter()
        XCTAssertEqual(filter.filter("a\u{1B}"), "a")
        XCTAssertEqual(filter.filter("]52;c;ZXZp"), "")
        XCTAssertEqual(filter.filter("bA==\u{07}b"), "b")
        XCTAssertEqual(filter.filter("\u{1B}"), "")
        XCTAssertEqual(filter.filter("[1mc"), "\u{1B}[1mc")
    }
}
