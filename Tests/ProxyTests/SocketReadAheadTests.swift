import CSocketReadAhead
import Foundation
import XCTest

/// The read-ahead under libssh's 4 KiB reads (Sources/CSocketReadAhead): the bytes come out
/// whole and in order, poll says "readable" while bytes are held, and a closed descriptor's
/// bytes never reach the next socket that gets its number.
final class SocketReadAheadTests: XCTestCase {
    private var pairs: [(Int32, Int32)] = []

    override func tearDown() {
        for (a, b) in pairs {
            close(a)
            close(b)
        }
        pairs = []
    }

    /// A connected pair of stream sockets; the first end has read-ahead.
    private func enabledPair() -> (reader: Int32, writer: Int32) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        switchboard_read_ahead_enable(fds[0])
        pairs.append((fds[0], fds[1]))
        return (fds[0], fds[1])
    }

    private func send(_ bytes: [UInt8], to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            XCTAssertGreaterThan(sent, 0)
            offset += max(sent, 0)
        }
    }

    /// Reads like libssh: poll for input, then one recv of at most 4,096 bytes.
    private func readLikeLibssh(_ fd: Int32, count: Int) -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while received.count < count {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            XCTAssertEqual(poll(&entry, 1, 5_000), 1)
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { break }
            received += chunk[0..<got]
        }
        return received
    }

    func testBytesComeOutWholeAndInOrderInLibsshSizedReads() {
        let (reader, writer) = enabledPair()
        let payload = (0..<60_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        send(payload, to: writer)
        XCTAssertEqual(readLikeLibssh(reader, count: payload.count), payload)
        XCTAssertEqual(switchboard_read_ahead_held(reader), 0, "everything read was handed out")
    }

    func testAHeldSocketIsReadableAtOnceAndAloneWithoutAskingTheKernel() {
        let (reader, writer) = enabledPair()
        let (other, otherWriter) = enabledPair()
        send([UInt8](repeating: 1, count: 10_000), to: writer)
        send([9], to: otherWriter)  // the kernel has a byte for `other`, nothing is held for it
        var byte: UInt8 = 0
        // The first small read takes everything waiting (up to 64 KiB) into the read-ahead.
        XCTAssertEqual(recv(reader, &byte, 1, 0), 1)
        XCTAssertEqual(switchboard_read_ahead_held(reader), 9_999)
        var entries = [pollfd(fd: reader, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
        XCTAssertEqual(poll(&entries, 2, -1), 1, "held bytes answer at once, even with no timeout")
        XCTAssertEqual(entries[0].revents, Int16(POLLIN))
        XCTAssertEqual(entries[1].revents, 0, "the other socket is polled once the held bytes are used")
        // A socket that does not ask for input is not reported for held bytes.
        var writeOnly = pollfd(fd: reader, events: Int16(POLLOUT), revents: 0)
        XCTAssertEqual(poll(&writeOnly, 1, 1_000), 1)
        XCTAssertEqual(writeOnly.revents & Int16(POLLIN), 0)
    }

    func testEndOfStreamComesAfterTheHeldBytes() {
        let (reader, writer) = enabledPair()
        send([UInt8](repeating: 5, count: 5_000), to: writer)
        shutdown(writer, Int32(SHUT_WR))
        XCTAssertEqual(readLikeLibssh(reader, count: 5_000).count, 5_000)
        var byte: UInt8 = 0
        XCTAssertEqual(recv(reader, &byte, 1, 0), 0, "then end of stream")
    }

    func testCallsWithFlagsAndPlainSocketsGoToTheKernel() {
        let (reader, writer) = enabledPair()
        send([1, 2, 3, 4], to: writer)
        var peeked = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(peeked.withUnsafeMutableBytes { recv(reader, $0.baseAddress, 4, Int32(MSG_PEEK)) }, 4)
        XCTAssertEqual(switchboard_read_ahead_held(reader), 0, "a peek is not read ahead")
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        pairs.append((fds[0], fds[1]))
        send([7, 8], to: fds[1])
        var byte: UInt8 = 0
        XCTAssertEqual(recv(fds[0], &byte, 1, 0), 1)
        XCTAssertEqual(switchboard_read_ahead_held(fds[0]), 0, "a socket never enabled is read as asked")
    }

    func testAClosedSocketsHeldBytesNeverReachTheNextSocketWithItsNumber() {
        let (reader, writer) = enabledPair()
        send([UInt8](repeating: 0xAA, count: 20_000), to: writer)
        var byte: UInt8 = 0
        XCTAssertEqual(recv(reader, &byte, 1, 0), 1)
        XCTAssertGreaterThan(switchboard_read_ahead_held(reader), 0)
        close(reader)
        pairs.removeAll { $0.0 == reader }
        close(writer)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        pairs.append((fds[0], fds[1]))
        XCTAssertTrue(fds.contains(reader), "the number is reused")
        let reused = fds[0] == reader ? fds[0] : fds[1]
        let peer = fds[0] == reader ? fds[1] : fds[0]
        XCTAssertEqual(switchboard_read_ahead_held(reused), 0)
        send([0x55], to: peer)
        XCTAssertEqual(recv(reused, &byte, 1, 0), 1)
        XCTAssertEqual(byte, 0x55, "the new socket's own byte, not the old one's")
    }
}
