import Foundation
import RouteStore
import XCTest

@testable import Proxy

final class ProxyProtocolParsingTests: XCTestCase {
    /// Writes `bytes` into one end of a socketpair and parses the header from the other.
    private func parse(_ bytes: [UInt8], then trailer: [UInt8] = Array("SSH-2.0-x\r\n".utf8)) throws -> (ProxyProtocol.Header, [UInt8]) {
        var ends: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends), 0)
        defer { close(ends[0]); close(ends[1]) }
        let all = bytes + trailer
        XCTAssertEqual(all.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }, all.count)
        let header = try ProxyProtocol.readHeader(from: ends[0], deadline: Date().addingTimeInterval(2))
        var rest = [UInt8](repeating: 0, count: trailer.count)
        XCTAssertEqual(read(ends[0], &rest, rest.count), trailer.count)
        return (header, rest)
    }

    func testVersion1LeavesTheSSHBannerUnread() throws {
        let (header, rest) = try parse(Array("PROXY TCP4 192.0.2.7 198.51.100.1 40000 2222\r\n".utf8))
        XCTAssertEqual(header, .init(clientHost: "192.0.2.7", clientPort: 40000))
        XCTAssertEqual(rest, Array("SSH-2.0-x\r\n".utf8))
        XCTAssertEqual(try parse(Array("PROXY TCP6 2001:db8::5 2001:db8::1 40001 22\r\n".utf8)).0,
                       .init(clientHost: "2001:db8::5", clientPort: 40001))
        XCTAssertEqual(try parse(Array("PROXY UNKNOWN\r\n".utf8)).0, .init())
    }

    func testVersion2() throws {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        let v4Block: [UInt8] = [192, 0, 2, 9, 198, 51, 100, 1, 0x9C, 0x40, 0x08, 0xAE]
        let (header, rest) = try parse(signature + [0x21, 0x11, 0, 12] + v4Block)
        XCTAssertEqual(header, .init(clientHost: "192.0.2.9", clientPort: 40000))
        XCTAssertEqual(rest, Array("SSH-2.0-x\r\n".utf8))
        XCTAssertEqual(try parse(signature + [0x20, 0x00, 0, 0]).0, .init(), "LOCAL keeps the peer address")
    }

    func testMalformedHeadersAreRefused() {
        for bad in ["SSH-2.0-OpenSSH\r\n", "PROXY TCP4 not-an-ip 1.2.3.4 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n"] {
            XCTAssertThrowsError(try parse(Array(bad.utf8)), bad)
        }
    }

    // MARK: bytes in memory

    private let signature = ProxyProtocol.v2Signature
    private let banner = Array("SSH-2.0-x\r\n".utf8)

    func testVersion1InMemoryConsumesOnlyTheLine() throws {
        let line = Array("PROXY TCP4 192.0.2.7 198.51.100.1 40000 2222\r\n".utf8)
        let (header, consumed) = try ProxyProtocol.parseHeader(line + banner)
        XCTAssertEqual(header, .init(clientHost: "192.0.2.7", clientPort: 40000))
        XCTAssertEqual(consumed, line.count)
        XCTAssertEqual(try ProxyProtocol.parseHeader(Array("PROXY TCP6 2001:db8::5 2001:db8::1 40001 22\r\n".utf8)).header,
                       .init(clientHost: "2001:db8::5", clientPort: 40001))
        XCTAssertEqual(try ProxyProtocol.parseHeader(Array("PROXY UNKNOWN\r\n".utf8) + banner).consumed, 15)
    }

    func testVersion2InMemoryIPv4AndIPv6() throws {
        let v4Block: [UInt8] = [192, 0, 2, 9, 198, 51, 100, 1, 0x9C, 0x40, 0x08, 0xAE]
        let v4 = try ProxyProtocol.parseHeader(signature + [0x21, 0x11, 0, 12] + v4Block + banner)
        XCTAssertEqual(v4.header, .init(clientHost: "192.0.2.9", clientPort: 40000))
        XCTAssertEqual(v4.consumed, 28)

        let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [5]
        let destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
        let v6Block = source + destination + [0x9C, 0x41, 0x00, 0x16]
        let v6 = try ProxyProtocol.parseHeader(signature + [0x21, 0x21, 0, 36] + v6Block + banner)
        XCTAssertEqual(v6.header, .init(clientHost: "2001:db8::5", clientPort: 40001))
        XCTAssertEqual(v6.consumed, 52)
    }

    func testVersion2InMemoryConsumesTheWholeBlockWithItsExtensions() throws {
        let v4Block: [UInt8] = [192, 0, 2, 9, 198, 51, 100, 1, 0x9C, 0x40, 0x08, 0xAE]
        let tlv: [UInt8] = [0x04, 0x00, 0x03, 0x61, 0x62, 0x63]  // PP2_TYPE_NOOP, 3 bytes
        let parsed = try ProxyProtocol.parseHeader(signature + [0x21, 0x11, 0, 18] + v4Block + tlv + banner)
        XCTAssertEqual(parsed.header, .init(clientHost: "192.0.2.9", clientPort: 40000))
        XCTAssertEqual(parsed.consumed, 16 + 18)
    }

    func testVersion2LocalKeepsThePeerAddress() throws {
        let parsed = try ProxyProtocol.parseHeader(signature + [0x20, 0x00, 0, 0] + banner)
        XCTAssertEqual(parsed.header, .init())
        XCTAssertEqual(parsed.consumed, 16)
        let withBlock = try ProxyProtocol.parseHeader(signature + [0x20, 0x11, 0, 12] + Array(repeating: 7, count: 12))
        XCTAssertEqual(withBlock.header, .init(), "LOCAL ignores an address block")
        XCTAssertEqual(withBlock.consumed, 28)
    }

    func testTruncatedHeadersFailAsClosed() {
        let v1 = Array("PROXY TCP4 192.0.2.7 198.51.100.1 40000 2222\r\n".utf8)
        let v2 = signature + [0x21, 0x11, 0, 12] + [192, 0, 2, 9, 198, 51, 100, 1, 0x9C, 0x40, 0x08, 0xAE]
        for header in [v1, v2] {
            for length in 0..<header.count {
                XCTAssertThrowsError(try ProxyProtocol.parseHeader(Array(header.prefix(length)))) { error in
                    XCTAssertEqual(error as? ProxyProtocol.Failure, .closed, "prefix of \(length) bytes")
                }
            }
        }
    }

    func testOverlongVersion1LineIsRefusedAfter107Bytes() throws {
        let longest = Array("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".utf8)
        XCTAssertEqual(longest.count, 104)
        XCTAssertEqual(try ProxyProtocol.parseHeader(longest).consumed, 104)
        let overlong = Array("PROXY UNKNOWN ".utf8) + Array(repeating: UInt8(ascii: "x"), count: 200) + Array("\r\n".utf8)
        XCTAssertThrowsError(try ProxyProtocol.parseHeader(overlong)) { error in
            XCTAssertEqual(error as? ProxyProtocol.Failure, .malformed("v1 line longer than 107 bytes"))
        }
    }

    func testMalformedHeadersInMemory() {
        let bad: [[UInt8]] = [
            Array("SSH-2.0-OpenSSH\r\n".utf8),
            Array("PROXY TCP4 not-an-ip 1.2.3.4 1 2\r\n".utf8),
            Array("PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n".utf8),
            signature + [0x11, 0x11, 0, 0],  // version 1 in a v2 header
            signature + [0x22, 0x11, 0, 0],  // unknown command
            signature + [0x21, 0x11, 0, 4, 1, 2, 3, 4],  // IPv4 block too short
            [0x0D] + Array(repeating: 0, count: 15),  // bad signature
            // Found by the fuzzer: inet_pton reads only up to a NUL, so this host was taken
            // as "::6\0\0\0effff:192.0.2.7", NULs and all.
            Array("PROXY TCP6 ::6".utf8) + [0, 0, 0] + Array("effff:192.0.2.7 ::1 1 6553\r\n".utf8),
            Array("PROXY TCP4 192.0.2.7".utf8) + [0] + Array("x 192.0.2.1 1 2\r\n".utf8),
        ]
        for bytes in bad {
            XCTAssertThrowsError(try ProxyProtocol.parseHeader(bytes)) { error in
                guard case .malformed = error as? ProxyProtocol.Failure else { return XCTFail("\(bytes): \(error)") }
            }
        }
    }

    func testAddressRanges() throws {
        let v4 = try XCTUnwrap(AddressRange("10.0.0.0/8"))
        XCTAssertTrue(v4.contains("10.200.3.4"))
        XCTAssertTrue(v4.contains("::ffff:10.1.1.1"), "IPv4-mapped IPv6 counts as IPv4")
        XCTAssertFalse(v4.contains("11.0.0.1"))
        let v6 = try XCTUnwrap(AddressRange("2001:db8::/32"))
        XCTAssertTrue(v6.contains("2001:db8:1::7"))
        XCTAssertFalse(v6.contains("2001:db9::1"))
        XCTAssertTrue(try XCTUnwrap(AddressRange("192.0.2.1")).contains("192.0.2.1"))
        XCTAssertFalse(try XCTUnwrap(AddressRange("192.0.2.1")).contains("192.0.2.2"))
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "", "10.0.0.0\0junk/8", "192.0.2.1\0"] { XCTAssertNil(AddressRange(bad), bad) }
    }
}
