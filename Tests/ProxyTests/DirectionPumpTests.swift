import SSH
import XCTest

@testable import Proxy

/// The direction pump with in-memory channels: windows respected, unsent bytes kept, stdout and
/// stderr kept apart, EOF only after everything before it.
final class DirectionPumpTests: XCTestCase {
    private let source = FakeChannel()
    private let sink = FakeChannel()
    private var pump = DirectionPump()

    func testCopiesBothStreamsApartAndCountsTheBytes() {
        source.incoming[.stdout] = Array("out".utf8)
        source.incoming[.stderr] = Array("err".utf8)
        XCTAssertTrue(pump.pump(from: source, to: sink))
        XCTAssertEqual(sink.delivered[.stdout], Array("out".utf8))
        XCTAssertEqual(sink.delivered[.stderr], Array("err".utf8))
        XCTAssertEqual(pump.bytesMoved, 6)
        XCTAssertFalse(pump.pump(from: source, to: sink), "nothing left to move")
    }

    func testWhileLittleIsWaitingAReadTakesOnlyWhatTheSinkCanTake() {
        source.incoming[.stdout] = Array(repeating: 7, count: 100_000)
        sink.sendWindow = 1000
        _ = pump.pump(from: source, to: sink)
        XCTAssertEqual(sink.delivered[.stdout]?.count, 1000)
        XCTAssertEqual(source.incoming[.stdout]?.count, 99_000, "unread data stays with the source (backpressure)")
        sink.sendWindow = 0
        XCTAssertFalse(pump.pump(from: source, to: sink), "a zero window moves nothing and does not spin")
        sink.sendWindow = .max
        while pump.pump(from: source, to: sink) {}
        XCTAssertEqual(sink.delivered[.stdout]?.count, 100_000)
    }

    func testWhenMuchIsWaitingAReadTakesItAllAndNothingMoreUntilItIsDelivered() {
        let waiting = DirectionPump.partialReadLimit + 60_000
        source.incoming[.stdout] = Array(repeating: 7, count: waiting)
        sink.sendWindow = 1000
        _ = pump.pump(from: source, to: sink)
        XCTAssertEqual(sink.delivered[.stdout]?.count, 1000)
        XCTAssertEqual(source.incoming[.stdout]?.count, 0, "everything is read at once, so libssh grants no window twice")
        source.incoming[.stdout] = Array(repeating: 8, count: 5000)
        sink.sendWindow = 0
        XCTAssertFalse(pump.pump(from: source, to: sink))
        sink.sendWindow = 50_000
        _ = pump.pump(from: source, to: sink)
        XCTAssertEqual(source.incoming[.stdout]?.count, 5000, "nothing more is read while earlier data is kept")
        sink.sendWindow = .max
        while pump.pump(from: source, to: sink) {}
        XCTAssertEqual(sink.delivered[.stdout], Array(repeating: 7, count: waiting) + Array(repeating: 8, count: 5000))
    }

    func testAPeerThatIgnoresItsWindowIsCaught() {
        source.incoming[.stdout] = Array(repeating: 1, count: 100)
        source.peerIgnoredWindow = true
        XCTAssertFalse(pump.pump(from: source, to: sink))
        XCTAssertTrue(pump.sourceOverran)
        sink.sendWindow = .max
        XCTAssertFalse(pump.pump(from: source, to: sink), "nothing more moves")
    }

    func testKeepsWhatTheSinkDidNotTakeAndSendsItFirst() {
        sink.writeLimits = [5, 0]
        source.incoming[.stdout] = Array("0123456789".utf8)
        XCTAssertTrue(pump.pump(from: source, to: sink))
        XCTAssertEqual(sink.delivered[.stdout], Array("01234".utf8))
        XCTAssertEqual(source.incoming[.stdout], [], "the rest was read and is kept by the pump")
        XCTAssertFalse(pump.pump(from: source, to: sink))
        source.incoming[.stdout] = Array("ab".utf8)
        XCTAssertTrue(pump.pump(from: source, to: sink))
        XCTAssertEqual(sink.delivered[.stdout], Array("0123456789ab".utf8), "kept bytes go before newer ones")
    }

    func testEOFIsForwardedOnlyAfterEverythingBeforeIt() {
        source.incoming[.stdout] = Array(repeating: 1, count: 10)
        source.receivedEOF = true
        sink.sendWindow = 4
        _ = pump.pump(from: source, to: sink)
        XCTAssertFalse(sink.eofSent)
        XCTAssertFalse(pump.isDrained)
        sink.sendWindow = .max
        while pump.pump(from: source, to: sink) {}
        XCTAssertTrue(pump.isDrained)
        XCTAssertTrue(sink.eofSent)
        XCTAssertEqual(sink.delivered[.stdout]?.count, 10)
    }

    func testAFailedSourceIsNotPassedOnAsACleanEOF() {
        source.readFailure = true
        source.incoming[.stdout] = [1]
        _ = pump.pump(from: source, to: sink)
        XCTAssertFalse(pump.isDrained)
        XCTAssertFalse(sink.eofSent)
    }

    func testNoEOFToASinkThatIsAlreadyClosing() {
        source.receivedEOF = true
        sink.close()
        _ = pump.pump(from: source, to: sink)
        XCTAssertTrue(pump.isDrained)
        XCTAssertFalse(sink.eofSent)
    }

    func testTheObserverSeesExactlyWhatWasDelivered() {
        var seen: [UInt8] = []
        pump.observer = { seen += $0 }
        source.incoming[.stdout] = Array("hello".utf8)
        sink.sendWindow = 3
        _ = pump.pump(from: source, to: sink)
        XCTAssertEqual(seen, Array("hel".utf8))
    }
}

/// Output the sink's connection could not write yet stops the pump.
final class DirectionPumpBacklogTests: XCTestCase {
    func testNothingMovesWhileTheSinksConnectionHasUnsentOutput() {
        let source = FakeChannel()
        let sink = FakeChannel()
        var pump = DirectionPump()
        source.incoming[.stdout] = Array("waiting".utf8)
        sink.outputBacklogged = true
        XCTAssertFalse(pump.pump(from: source, to: sink))
        XCTAssertEqual(source.incoming[.stdout]?.count, 7, "nothing was read")
        sink.outputBacklogged = false
        XCTAssertTrue(pump.pump(from: source, to: sink))
        XCTAssertEqual(sink.text(.stdout), "waiting")
    }
}
