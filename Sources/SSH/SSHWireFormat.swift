/// Writes SSH wire encoding (RFC 4251 section 5): big-endian integers and length-prefixed
/// strings, appended to `bytes`.
public struct SSHWireWriter: Sendable {
    /// What has been written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer.
    public init() {}

    /// A `uint32`, big-endian.
    public mutating func uint32(_ value: UInt32) {
        bytes += [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                  UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    /// A `uint64`, big-endian.
    public mutating func uint64(_ value: UInt64) {
        uint32(UInt32(truncatingIfNeeded: value >> 32))
        uint32(UInt32(truncatingIfNeeded: value))
    }

    /// A `string`: its length as a `uint32`, then the bytes. Data over 4 GiB cannot be encoded
    /// and stops the program.
    public mutating func string(_ value: [UInt8]) {
        guard let length = UInt32(exactly: value.count) else { preconditionFailure("an SSH string of \(value.count) bytes") }
        uint32(length)
        bytes += value
    }

    /// A `string` holding the UTF-8 bytes of `value`.
    public mutating func string(_ value: String) {
        string(Array(value.utf8))
    }

    /// Bytes as they are, without a length (data that is already encoded).
    public mutating func raw(_ value: [UInt8]) {
        bytes += value
    }
}

/// Reads SSH wire encoding from bytes that may come from anyone. Every read checks that the
/// bytes are there; a length larger than what is left is refused before anything is allocated.
/// Failures are `SSHError(.protocolError, …)`.
public struct SSHWireReader: Sendable {
    private let bytes: [UInt8]
    /// Where the next read starts.
    private(set) var position = 0

    /// A reader at the start of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position == bytes.count }

    /// How many bytes are left to read.
    public var remainingCount: Int { bytes.count - position }

    /// Throws if any byte is left unread.
    public func expectEnd() throws(SSHError) {
        guard isAtEnd else { throw SSHError(.protocolError, "\(remainingCount) unexpected bytes after the end of the data") }
    }

    /// A big-endian `uint32`.
    public mutating func uint32() throws(SSHError) -> UInt32 {
        let field = try take(4, "a uint32")
        return field.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A big-endian `uint64`.
    public mutating func uint64() throws(SSHError) -> UInt64 {
        let field = try take(8, "a uint64")
        return field.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A `string`'s bytes.
    public mutating func string() throws(SSHError) -> [UInt8] {
        let length = try uint32()
        return Array(try take(Int(length), "a string"))
    }

    /// A `string` that must be valid UTF-8.
    public mutating func text() throws(SSHError) -> String {
        let value = try string()
        guard let text = String(validating: value, as: UTF8.self) else {
            throw SSHError(.protocolError, "a string of \(value.count) bytes is not valid UTF-8")
        }
        return text
    }

    /// An `mpint` that must not be negative, as its big-endian magnitude without leading zero
    /// bytes (zero is empty).
    public mutating func mpint() throws(SSHError) -> [UInt8] {
        let value = try string()
        if let first = value.first, first & 0x80 != 0 {
            throw SSHError(.protocolError, "a negative mpint where a positive number belongs")
        }
        return Array(value.drop { $0 == 0 })
    }

    /// The bytes read between `start` (an earlier `position`) and now.
    func bytesRead(since start: Int) -> [UInt8] {
        Array(bytes[start..<position])
    }

    /// Every byte left, leaving the reader at the end.
    mutating func remainingBytes() -> [UInt8] {
        defer { position = bytes.count }
        return Array(bytes[position...])
    }

    private mutating func take(_ count: Int, _ what: String) throws(SSHError) -> ArraySlice<UInt8> {
        guard count <= remainingCount else {
            throw SSHError(.protocolError, "truncated data: \(what) needs \(count) bytes, \(remainingCount) are left")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }
}
