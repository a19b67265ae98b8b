import XCTest

@testable import Proxy

final class UpstreamCiphersTests: XCTestCase {
    func testFindsAESAmongX86Flags() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 pclmulqdq aes avx2\n"
        XCTAssertTrue(UpstreamCiphers.hasAESInstructions(cpuinfo: cpuinfo))
    }

    func testFindsAESAmongARMFeatures() {
        XCTAssertTrue(UpstreamCiphers.hasAESInstructions(cpuinfo: "Features\t: fp asimd aes pmull sha1\n"))
    }

    func testWithoutAESInstructionsChaChaComesFirst() {
        let cpuinfo = "flags\t\t: fpu sse2 avx2 vaes_not_really\nmodel name\t: aes lookalike\n"
        XCTAssertFalse(UpstreamCiphers.hasAESInstructions(cpuinfo: cpuinfo))
        XCTAssertFalse(UpstreamCiphers.hasAESInstructions(cpuinfo: ""))
        XCTAssertTrue(UpstreamCiphers.chachaFirst.hasPrefix("chacha20-poly1305@openssh.com,"))
        XCTAssertTrue(UpstreamCiphers.aesFirst.hasPrefix("aes128-gcm@openssh.com,"))
    }
}
