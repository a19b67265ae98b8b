import CTLS

/// One accepted TLS connection (OpenSSL's SSL), freed in deinit. Its reads and writes never
/// block: when one cannot go on, it says which way the socket must become ready, and the
/// caller polls the socket it owns. Used by one thread at a time, so it is not `Sendable`.
public final class TLSConnection {
    /// What one read or write did.
    public enum Transfer: Equatable, Sendable {
        /// This many bytes moved (more than zero).
        case bytes(Int)
        /// Nothing moved until the socket becomes readable.
        case wantsRead
        /// Nothing moved until the socket becomes writable.
        case wantsWrite
        /// The peer ended TLS properly (close_notify).
        case closed
        /// The connection is broken (a reset, bad records); it must not be used again.
        case failed
    }

    private let connection: OpaquePointer
    private var ended = false

    init(_ connection: OpaquePointer) { self.connection = connection }

    deinit { switchboard_tls_free(connection) }

    /// Reads decrypted bytes into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .bytes(0) }
        return transfer(switchboard_tls_read(connection, base, Int32(clamping: buffer.count)))
    }

    /// Writes bytes from `buffer`; a count smaller than the buffer is a partial write.
    public func write(_ buffer: UnsafeRawBufferPointer) -> Transfer {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .bytes(0) }
        return transfer(switchboard_tls_write(connection, base, Int32(clamping: buffer.count)))
    }

    /// Decrypted bytes already buffered: readable now, whatever the socket says.
    public var bufferedByteCount: Int { Int(switchboard_tls_pending(connection)) }

    /// Sends close_notify (once, without waiting for the peer's), unless the connection broke.
    public func shutdown() {
        guard !ended else { return }
        ended = true
        switchboard_tls_shutdown(connection)
    }

    private func transfer(_ result: Int32) -> Transfer {
        switch result {
        case let count where count > 0: return .bytes(Int(count))
        case Int32(SWITCHBOARD_TLS_IO_WANTS_READ.rawValue): return .wantsRead
        case Int32(SWITCHBOARD_TLS_IO_WANTS_WRITE.rawValue): return .wantsWrite
        case Int32(SWITCHBOARD_TLS_IO_CLOSED.rawValue): return .closed
        default:
            ended = true
            return .failed
        }
    }
}
