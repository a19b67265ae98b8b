import Foundation
import Synchronization
import XCTest

@testable import Proxy

/// Live watching of a terminal: what a watcher sees (header, output and resize events as
/// asciicast v2 lines), its wake-up descriptor, and that the relay's side never waits: a
/// watcher that falls behind is dropped, one that detaches is gone at once.
final class SessionWatchTests: XCTestCase {
    private func header(of watcher: SessionWatcher) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(watcher.header().utf8)) as? [String: Any])
    }

    private func events(_ lines: [String]) throws -> [[Any]] {
        try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any]) }
    }

    /// Whether `fd` is readable within `milliseconds`.
    private func isReadable(_ fd: Int32, within milliseconds: Int32 = 0) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, milliseconds) == 1 && entry.revents & Int16(POLLIN) != 0
    }

    private func openDescriptorCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }

    func testOutputWithNobodyWatchingIsNotKeptForALaterWatcher() throws {
        let watch = SessionWatch()
        watch.output(Array("before anyone watched".utf8))
        let watcher = try watch.attach()
        let header = try header(of: watcher)
        XCTAssertEqual(header["version"] as? Int, 2)
        XCTAssertEqual(header["width"] as? Int, 80, "no terminal yet")
        XCTAssertEqual(header["height"] as? Int, 24)
        XCTAssertEqual((header["env"] as? [String: String])?["TERM"], "xterm")
        let timestamp = try XCTUnwrap(header["timestamp"] as? Int)
        XCTAssertEqual(Double(timestamp), Date().timeIntervalSince1970, accuracy: 5)
        XCTAssertFalse(isReadable(watcher.wakeDescriptor))
        let taken = watcher.take()
        XCTAssertEqual(taken.events, [])
        XCTAssertNil(taken.end)
    }

    func testAWatcherAttachedAfterTheTerminalStartedGetsItsCurrentSizeInTheHeader() throws {
        let watch = SessionWatch()
        watch.terminalStarted(columns: 120, rows: 40, terminal: "xterm-256color")
        watch.resized(columns: 132, rows: 43)
        let watcher = try watch.attach()
        let header = try header(of: watcher)
        XCTAssertEqual(header["width"] as? Int, 132)
        XCTAssertEqual(header["height"] as? Int, 43)
        XCTAssertEqual((header["env"] as? [String: String])?["TERM"], "xterm-256color")
        XCTAssertEqual(watcher.take().events, [], "what happened before the attach is in the header, not in events")
    }

    func testACharacterSplitAcrossTwoOutputsComesWholeInOneEvent() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        let euro = Array("€".utf8)
        watch.output(euro[0..<2])
        watch.output(euro[2...])
        let taken = try events(watcher.take().events)
        XCTAssertEqual(taken.count, 1)
        XCTAssertEqual(taken.first?[1] as? String, "o")
        XCTAssertEqual(taken.first?[2] as? String, "€")
        let seconds = try XCTUnwrap((taken.first?[0] as? NSNumber)?.doubleValue)
        XCTAssertGreaterThanOrEqual(seconds, 0)
        XCTAssertLessThan(seconds, 5)
    }

    func testOutputKeepsEscapesAndDropsControlCharactersNoTerminalDraws() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        watch.output([0x1B, 0x5B, 0x48, 0x00, 0x01, 0x41, 0x0D, 0x0A])
        watch.output([0x00, 0x00])
        let taken = try events(watcher.take().events)
        XCTAssertEqual(taken.map { $0[2] as? String }, ["\u{1B}[HA\r\n"], "an output that is all dropped characters makes no event")
    }

    func testTerminalStartAndResizesAfterTheAttachAreResizeEvents() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        watch.terminalStarted(columns: 100, rows: 30, terminal: "screen")
        watch.output(Array("$ ".utf8))
        watch.resized(columns: 90, rows: 20)
        let taken = try events(watcher.take().events)
        XCTAssertEqual(taken.map { $0[1] as? String }, ["r", "o", "r"])
        XCTAssertEqual(taken.map { $0[2] as? String }, ["100x30", "$ ", "90x20"])
        let times = taken.compactMap { ($0[0] as? NSNumber)?.doubleValue }
        XCTAssertEqual(times, times.sorted(), "in order of time")
    }

    func testTheDescriptorIsReadableOnlyWhileSomethingIsNew() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        let fd = watcher.wakeDescriptor
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertFalse(isReadable(fd))
        watch.output(Array("a".utf8))
        watch.output(Array("b".utf8))
        XCTAssertTrue(isReadable(fd))
        XCTAssertEqual(watcher.take().events.count, 2)
        XCTAssertFalse(isReadable(fd), "taking clears it")
        watch.output(Array("c".utf8))
        XCTAssertTrue(isReadable(fd), "something new after a take wakes it again")
    }

    func testTwoWatchersEachSeeEverything() throws {
        let watch = SessionWatch()
        let first = try watch.attach()
        let second = try watch.attach()
        watch.output(Array("one".utf8))
        XCTAssertEqual(try events(first.take().events).map { $0[2] as? String }, ["one"])
        watch.output(Array("two".utf8))
        XCTAssertEqual(try events(first.take().events).map { $0[2] as? String }, ["two"])
        XCTAssertEqual(try events(second.take().events).map { $0[2] as? String }, ["one", "two"], "independent of the other's pace")
        first.detach()
        watch.output(Array("three".utf8))
        XCTAssertEqual(try events(second.take().events).map { $0[2] as? String }, ["three"])
        XCTAssertEqual(first.take().events, [], "a detached watcher gets nothing")
        XCTAssertEqual(first.wakeDescriptor, -1)
    }

    func testAWatcherThatFallsBehindIsDroppedWhileAnotherKeepsReceiving() throws {
        let watch = SessionWatch()
        let slow = try watch.attach(bufferLimit: 4096)
        let fast = try watch.attach(bufferLimit: 4096)
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
        var fastEvents = 0
        var slowest = Duration.zero
        for _ in 0..<200 {
            let start = ContinuousClock.now
            watch.output(chunk)
            slowest = max(slowest, .now - start)
            let taken = fast.take()
            XCTAssertNil(taken.end)
            fastEvents += taken.events.count
        }
        XCTAssertEqual(fastEvents, 200)
        XCTAssertLessThan(slowest, .milliseconds(100), "output never waits for a watcher")
        XCTAssertTrue(isReadable(slow.wakeDescriptor), "the dropped watcher is woken")
        let dropped = slow.take()
        XCTAssertEqual(dropped.end, .tooSlow)
        XCTAssertEqual(dropped.events.count, 3, "what fit under its limit before the drop, nothing after")
        XCTAssertEqual(slow.take().end, .tooSlow, "the end stays")
        watch.output(chunk)
        XCTAssertEqual(slow.take().events, [])
        XCTAssertEqual(fast.take().events.count, 1)
    }

    func testTheSessionsEndWakesWatchersAfterTheirLastEvents() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        watch.output(Array("bye\r\n".utf8))
        XCTAssertEqual(watcher.take().events.count, 1)
        XCTAssertFalse(isReadable(watcher.wakeDescriptor))
        let ender = Thread {
            Thread.sleep(forTimeInterval: 0.05)
            watch.output(Array("logout".utf8))
            watch.ended()
        }
        ender.start()
        XCTAssertTrue(isReadable(watcher.wakeDescriptor, within: 5000), "the end wakes a watcher asleep in poll")
        var taken = watcher.take()
        if taken.end == nil {
            // The wake-up came with the output, before the end.
            XCTAssertTrue(isReadable(watcher.wakeDescriptor, within: 5000))
            let rest = watcher.take()
            taken = (taken.events + rest.events, rest.end)
        }
        XCTAssertEqual(try events(taken.events).map { $0[2] as? String }, ["logout"])
        XCTAssertEqual(taken.end, .sessionEnded)

        let late = try watch.attach()
        XCTAssertTrue(isReadable(late.wakeDescriptor), "a watcher attaching after the end learns it at once")
        XCTAssertEqual(late.take().end, .sessionEnded)
    }

    func testDetachingWhileTheRelayFeedsTheWatchIsSafeAndLeaksNoDescriptor() throws {
        let watch = SessionWatch()
        watch.terminalStarted(columns: 80, rows: 24, terminal: "xterm")
        let descriptorsBefore = try openDescriptorCount()
        let stop = Atomic<Bool>(false)
        let relayDone = DispatchSemaphore(value: 0)
        let relay = Thread {
            let chunk = Array("0123456789abcdef".utf8)
            var count = 0
            while !stop.load(ordering: .relaxed) {
                watch.output(chunk)
                count += 1
                if count % 64 == 0 { watch.resized(columns: 80 + count % 7, rows: 24) }
            }
            relayDone.signal()
        }
        relay.start()
        for round in 0..<3000 {
            let watcher = try watch.attach(bufferLimit: round % 3 == 0 ? 256 : 1 << 16)
            if round % 2 == 0 { _ = watcher.take() }
            if round % 5 == 0 {
                _ = isReadable(watcher.wakeDescriptor, within: 1)
                _ = watcher.take()
            }
            if round % 7 != 0 { watcher.detach() }  // else released: deinit detaches
        }
        stop.store(true, ordering: .relaxed)
        XCTAssertEqual(relayDone.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try openDescriptorCount(), descriptorsBefore, "every watcher's eventfd is closed")
    }
}
