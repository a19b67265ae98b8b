#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An address range such as `10.0.0.0/8` or `2001:db8::/32` (a bare address is a single host).
public struct AddressRange: Equatable, Sendable, CustomStringConvertible {
    private let bytes: [UInt8]
    private let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let address = parts.first.flatMap(AddressRange.bytes(of:)) else { return nil }
        let maximum = address.count * 8
        let prefix = parts.count == 2 ? Int(parts[1]) : maximum
        guard let prefix, (0...maximum).contains(prefix) else { return nil }
        self.bytes = address
        self.prefix = prefix
        self.description = text
    }

    /// True if `host` (an IPv4 or IPv6 address; IPv4-mapped IPv6 counts as IPv4) is inside.
    public func contains(_ host: String) -> Bool {
        guard let candidate = AddressRange.bytes(of: host), candidate.count == bytes.count else { return false }
        var bitsLeft = prefix
        for index in bytes.indices where bitsLeft > 0 {
            let mask: UInt8 = bitsLeft >= 8 ? 0xFF : ~(0xFF >> UInt8(bitsLeft))
            if candidate[index] & mask != bytes[index] & mask { return false }
            bitsLeft -= 8
        }
        return true
    }

    /// The address's bytes: 4 for IPv4 and IPv4-mapped IPv6, 16 for other IPv6; nil if `text`
    /// is not an address.
    public static func bytes(of text: String) -> [UInt8]? {
        if let v4 = bytes(of: text, family: AF_INET) { return v4 }
        guard let v6 = bytes(of: text, family: AF_INET6) else { return nil }
        let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
        return Array(v6.prefix(12)) == mappedPrefix ? Array(v6.suffix(4)) : v6
    }

    /// `inet_pton` for `family` (AF_INET or AF_INET6): 4 or 16 bytes, or nil if `text` is not
    /// such an address. Text holding a NUL is not one, though `inet_pton` would read it up to the NUL.
    public static func bytes(of text: String, family: Int32) -> [UInt8]? {
        guard !text.utf8.contains(0) else { return nil }
        var buffer = in6_addr()
        guard inet_pton(family, text, &buffer) == 1 else { return nil }
        return withUnsafeBytes(of: &buffer) { Array($0.prefix(family == AF_INET ? 4 : 16)) }
    }
}
