import Foundation
import RouteStore

/// The PROXY protocol (v1 text and v2 binary) that load balancers put in front of a
/// connection to tell the real client address. Read before SSH sees the socket.
enum ProxyProtocol {
    /// What the header said: the client's address, or nil for a LOCAL/UNKNOWN connection
    /// (a health check from the balancer itself), which keeps the socket's own peer address.
    struct Header: Equatable {
        var clientHost: String?
        var clientPort: Int?
    }

    enum Failure: Error, Equatable, CustomStringConvertible {
        case timeout
        case closed
        case malformed(String)

        var description: String {
            switch self {
            case .timeout: "no PROXY protocol header in time"
            case .closed: "connection closed before the PROXY protocol header"
            case .malformed(let why): "malformed PROXY protocol header: \(why)"
            }
        }
    }

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The longest v1 line the specification allows, CRLF included.
    static let maximumVersion1Length = 107

    /// Reads exactly the header from `fd` (never a byte of what follows) by `deadline`.
    static func readHeader(from fd: Int32, deadline: Date) throws(Failure) -> Header {
        var socket = SocketBytes(fd: fd, deadline: deadline)
        return try readHeader(from: &socket)
    }

    /// Parses the header at the start of `bytes` and says how many bytes it took; what follows
    /// the header is left alone. Bytes that end inside the header fail as `.closed`, as a
    /// socket that closed there would.
    static func parseHeader(_ bytes: [UInt8]) throws(Failure) -> (header: Header, consumed: Int) {
        var memory = BufferedBytes(bytes)
        let header = try readHeader(from: &memory)
        return (header, memory.consumed)
    }

    /// The parser itself: asks `source` only for bytes the header still needs.
    private static func readHeader(from source: inout some ByteSource) throws(Failure) -> Header {
        let first = try source.read(1)
        switch first[0] {
        case UInt8(ascii: "P"): return try readVersion1(from: &source)
        case v2Signature[0]: return try readVersion2(from: &source)
        default: throw .malformed("does not start with PROXY or the v2 signature")
        }
    }

    /// `PROXY TCP4|TCP6|UNKNOWN src dst srcport dstport\r\n`, at most 107 bytes.
    private static func readVersion1(from source: inout some ByteSource) throws(Failure) -> Header {
        var line: [UInt8] = [UInt8(ascii: "P")]
        while !(line.count >= 2 && line[line.count - 2] == 0x0D && line[line.count - 1] == 0x0A) {
            guard line.count < maximumVersion1Length else { throw .malformed("v1 line longer than 107 bytes") }
            line += try source.read(1)
        }
        let fields = String(decoding: line.dropLast(2), as: UTF8.self).split(separator: " ").map(String.init)
        guard fields.first == "PROXY", fields.count >= 2 else { throw .malformed("v1 line does not start with PROXY") }
        if fields[1] == "UNKNOWN" { return Header() }
        guard fields.count == 6, fields[1] == "TCP4" || fields[1] == "TCP6",
              let port = Int(fields[4]), (0...65535).contains(port), Int(fields[5]) != nil,
              isAddress(fields[2], v6: fields[1] == "TCP6")
        else { throw .malformed("v1 line is not `PROXY TCP4|TCP6 src dst sport dport`") }
        return Header(clientHost: fields[2], clientPort: port)
    }

    /// 12-byte signature, version/command, family/transport, length, address block.
    private static func readVersion2(from source: inout some ByteSource) throws(Failure) -> Header {
        let rest = try source.read(15)
        guard Array([v2Signature[0]] + rest[0..<11]) == v2Signature else { throw .malformed("bad v2 signature") }
        let versionCommand = rest[11]
        let family = rest[12]
        let length = Int(rest[13]) << 8 | Int(rest[14])
        guard versionCommand >> 4 == 2 else { throw .malformed("unsupported v2 version") }
        let block = length > 0 ? try source.read(length) : []
        switch versionCommand & 0x0F {
        case 0x0: return Header()  // LOCAL
        case 0x1: break  // PROXY
        default: throw .malformed("unknown v2 command")
        }
        switch family >> 4 {
        case 0x1 where block.count >= 12:
            let host = block[0..<4].map(String.init).joined(separator: ".")
            return Header(clientHost: host, clientPort: Int(block[8]) << 8 | Int(block[9]))
        case 0x2 where block.count >= 36:
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: block[0..<16]) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { throw .malformed("bad IPv6 source") }
            let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return Header(clientHost: host, clientPort: Int(block[32]) << 8 | Int(block[33]))
        case 0x0:
            return Header()  // UNSPEC
        default:
            throw .malformed("unsupported v2 address family")
        }
    }

    private static func isAddress(_ text: String, v6: Bool) -> Bool {
        AddressRange.bytes(of: text, family: v6 ? AF_INET6 : AF_INET) != nil
    }
}
