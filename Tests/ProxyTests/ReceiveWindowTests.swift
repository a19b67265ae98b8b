import XCTest

@testable import SSH

/// The window a channel's peer was granted, followed as libssh 0.10.6 keeps it: a peer that
/// stays inside it is never flagged, one that sends on regardless is.
final class ReceiveWindowTests: XCTestCase {
    private let packet = 32_768

    /// A peer that sends whenever its window allows, against a reader that takes `readSize`
    /// every `readEvery` packets: never beyond the window, however the two interleave.
    func testAPeerInsideItsWindowNeverExceedsIt() {
        for (readSize, readEvery) in [(Int.max, 1), (packet, 1), (1_000, 3), (700_000, 40), (10, 1)] {
            var window = ReceiveWindow()
            var unread = 0
            var sent = 0
            for step in 1...20_000 {
                let size = min(packet, window.remaining)
                if size > 0 {
                    unread += size
                    sent += size
                    window.received(size, unread: unread)
                }
                if step % readEvery == 0 || size == 0 {
                    let asked = min(readSize, unread)
                    guard asked > 0 else { continue }
                    window.read(asked, requested: asked, unreadBefore: unread)
                    unread -= asked
                }
            }
            XCTAssertEqual(window.excess, 0, "reads of \(readSize) every \(readEvery) packets")
            XCTAssertGreaterThan(sent, 1_000_000, "the peer was not starved")
        }
    }

    /// A peer that ignores the window while nothing is read gets about one window through,
    /// then everything else counts as excess.
    func testAPeerThatSendsRegardlessIsCaughtAfterAboutOneWindow() {
        var window = ReceiveWindow()
        var unread = 0
        for _ in 0..<64 {
            unread += packet
            window.received(packet, unread: unread)
        }
        let allowed = unread - window.excess
        XCTAssertGreaterThan(allowed, ReceiveWindow.base)
        XCTAssertLessThan(allowed, ReceiveWindow.base + 2 * packet)
        XCTAssertEqual(window.excess, 64 * packet - allowed)
    }
}
