import Foundation

extension ProxyProtocol {
    /// Where the header parser gets its bytes: the accepted socket (`SocketBytes`) or bytes
    /// already in memory (`BufferedBytes`, for tests and fuzzing). The parser asks for exactly
    /// what the header still needs, so a source is never asked for a byte past the header.
    protocol ByteSource {
        /// Exactly `count` more bytes, or a failure: `.closed` when there are no more,
        /// `.timeout` when they did not come in time.
        mutating func read(_ count: Int) throws(Failure) -> [UInt8]
    }

    /// Reads from a socket, waiting at most until `deadline` for all of it.
    struct SocketBytes: ByteSource {
        let fd: Int32
        let deadline: Date

        mutating func read(_ count: Int) throws(Failure) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                let remaining = deadline.timeIntervalSinceNow
                guard remaining > 0 else { throw .timeout }
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, Int32(remaining * 1000) + 1) > 0 else { throw .timeout }
                let received = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, count - filled, 0) }
                if received == 0 { throw .closed }
                if received < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw .closed
                }
                filled += received
            }
            return bytes
        }
    }

    /// Reads from an array; running out of bytes is `.closed`. `consumed` counts what was read.
    struct BufferedBytes: ByteSource {
        private let bytes: [UInt8]
        private(set) var consumed = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        mutating func read(_ count: Int) throws(Failure) -> [UInt8] {
            guard count <= bytes.count - consumed else { throw .closed }
            defer { consumed += count }
            return Array(bytes[consumed..<consumed + count])
        }
    }
}
