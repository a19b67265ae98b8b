import RouteStore
@testable import Proxy

/// The PROXY protocol header a load balancer sends before SSH (`ProxyProtocol.parseHeader`).
/// Promises: a header is read to its end and not a byte further; a v1 line is at most 107 bytes
/// and ends in CRLF; a v2 header is exactly its 16 bytes plus the length it states; a client
/// address is an address (it parses again, and a header written from it reads the same).
enum ProxyProtocolTarget {
    static func run(_ bytes: [UInt8]) {
        let parsed: (header: ProxyProtocol.Header, consumed: Int)
        do {
            parsed = try ProxyProtocol.parseHeader(bytes)
        } catch {
            require(error != .timeout, "bytes in memory cannot time out")
            return
        }
        let consumed = parsed.consumed
        require(consumed > 0 && consumed <= bytes.count, "consumed \(consumed) of \(bytes.count) bytes")
        let header = Array(bytes.prefix(consumed))
        if header[0] == UInt8(ascii: "P") {
            require(consumed <= ProxyProtocol.maximumVersion1Length, "v1 header of \(consumed) bytes")
            require(header.suffix(2) == [0x0D, 0x0A], "v1 header does not end in CRLF")
        } else {
            require(consumed >= 16 && header.prefix(12).elementsEqual(ProxyProtocol.v2Signature), "v2 header without its signature")
            require(consumed == 16 + (Int(header[14]) << 8 | Int(header[15])), "v2 header of \(consumed) bytes, not 16 + its length")
        }
        requireNothingReadPastTheHeader(header, parsed.header)
        if let host = parsed.header.clientHost {
            requireAddress(host, port: parsed.header.clientPort, from: parsed.header)
        } else {
            require(parsed.header.clientPort == nil, "a port without a host")
        }
    }

    /// The header's own bytes give the same result, and one byte fewer is not enough.
    private static func requireNothingReadPastTheHeader(_ header: [UInt8], _ expected: ProxyProtocol.Header) {
        let alone = try? ProxyProtocol.parseHeader(header)
        require(alone?.header == expected && alone?.consumed == header.count, "the header alone parses differently")
        do {
            _ = try ProxyProtocol.parseHeader(Array(header.dropLast()))
            require(false, "the header without its last byte parses")
        } catch {
            require(error == .closed, "the header without its last byte fails as \(error), not as closed")
        }
    }

    /// The client address is only address characters, parses as an address, and reads back the
    /// same from a v1 line written with it.
    private static func requireAddress(_ host: String, port: Int?, from header: ProxyProtocol.Header) {
        let addressCharacters = Set("0123456789abcdefABCDEF.:".utf8)
        require(host.utf8.allSatisfy(addressCharacters.contains), "client host \(Array(host.utf8)) has characters no address has")
        require(AddressRange.bytes(of: host) != nil, "client host \(host) does not parse as an address")
        guard let port else { return require(false, "client host \(host) without a port") }
        require((0...65535).contains(port), "client port \(port)")
        let family = host.contains(":") ? "TCP6" : "TCP4"
        let line = Array("PROXY \(family) \(host) \(host) \(port) 0\r\n".utf8)
        let again = try? ProxyProtocol.parseHeader(line)
        require(again?.header == header, "a v1 line written from \(header) reads as \(String(describing: again?.header))")
    }
}
