import Foundation

/// Text as it travels in the SSH protocol: the bytes the peer chose, UTF-8 or not. Commands,
/// passwords, environment values, terminal types, subsystem names and keyboard-interactive
/// prompts and answers are relayed as these bytes, unchanged (a Latin-1 password or
/// `printf 'caf\xe9'` arrives as sent). `text` is for logs and display only: there, bytes that
/// are not UTF-8 show as U+FFFD. libssh hands such strings over as C strings, so they never
/// hold a NUL byte.
public struct WireText: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The UTF-8 bytes of `string`.
    public init(_ string: String) { bytes = Array(string.utf8) }

    public init(stringLiteral value: String) { self.init(value) }

    /// The bytes of a C string from libssh, up to its NUL; empty for a null pointer.
    init(cString pointer: UnsafePointer<CChar>?) {
        guard let pointer else {
            bytes = []
            return
        }
        bytes = Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }
    }

    /// For logs and display: the bytes read as UTF-8, invalid sequences replaced.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public var description: String { text }

    /// Calls `body` with the bytes as a NUL-terminated C string, libssh's form.
    func withCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        let terminated = bytes.map { CChar(bitPattern: $0) } + [0]
        return try terminated.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}
