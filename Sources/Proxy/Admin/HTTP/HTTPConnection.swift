import Glibc
import TLS

/// One accepted client socket of an `HTTPServer`, plain or TLS: reads and writes that never
/// wait past a deadline, and the check whether the client has gone. It owns the descriptor
/// (closed in deinit, after the TLS connection on it is freed) and is used by its request's
/// thread only.
final class HTTPConnection {
    /// What one read gave.
    enum ReadResult: Equatable {
        case bytes(Int)
        /// The client closed its side.
        case closed
        case timedOut
        /// A reset, a TLS error.
        case failed
    }

    let fd: Int32
    private var tls: TLSConnection?

    /// Takes ownership of `fd` and makes it non-blocking.
    init(fd: Int32) {
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        tls = nil
        close(fd)
    }

    /// Handshakes as the TLS server; afterwards every read and write is encrypted.
    func startTLS(_ context: TLSServerContext, until deadline: ContinuousClock.Instant) throws(TLSError) {
        let remaining = deadline - .now
        guard remaining > .zero else { throw TLSError(.handshake, "TLS handshake timed out") }
        tls = try context.accept(socket: fd, timeout: remaining)
    }

    /// Reads what is there (waiting for something until `deadline`) into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer, until deadline: ContinuousClock.Instant) -> ReadResult {
        while true {
            let wait: Int16
            if let tls {
                switch tls.read(into: buffer) {
                case .bytes(let count): return .bytes(count)
                case .closed: return .closed
                case .failed: return .failed
                case .wantsRead: wait = Int16(POLLIN)
                case .wantsWrite: wait = Int16(POLLOUT)
                }
            } else {
                let count = recv(fd, buffer.baseAddress, buffer.count, 0)
                if count > 0 { return .bytes(count) }
                if count == 0 { return .closed }
                guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return .failed }
                wait = Int16(POLLIN)
            }
            guard Self.wait(fd, for: wait, until: deadline) else { return .timedOut }
        }
    }

    /// Writes all of `bytes` before `deadline`; false when that is not possible (the client
    /// left, stopped reading, or the connection broke).
    func write(_ bytes: [UInt8], until deadline: ContinuousClock.Instant) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let wait: Int16
            if let tls {
                let transfer = bytes.withUnsafeBytes { tls.write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
                switch transfer {
                case .bytes(let count):
                    sent += count
                    continue
                case .closed, .failed: return false
                case .wantsRead: wait = Int16(POLLIN)
                case .wantsWrite: wait = Int16(POLLOUT)
                }
            } else {
                let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if count > 0 {
                    sent += count
                    continue
                }
                guard count < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return false }
                wait = Int16(POLLOUT)
            }
            guard Self.wait(fd, for: wait, until: deadline) else { return false }
        }
        return true
    }

    /// What a wait for the client or for another descriptor gave.
    enum Readiness: Equatable {
        case otherReady
        case peerClosed
        case timeout
    }

    /// Waits until `other` becomes readable, the client closes or resets its side, or
    /// `deadline`. After its request the client has nothing more to send, so its socket turning
    /// readable means it has gone; bytes it sends anyway are read and dropped.
    func waitForReadable(_ other: Int32, until deadline: ContinuousClock.Instant) -> Readiness {
        while true {
            if tls?.bufferedByteCount ?? 0 > 0, clientHasGone() { return .peerClosed }
            var entries = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&entries, 2, Self.milliseconds(until: deadline))
            if ready < 0 && errno != EINTR { return .peerClosed }
            if entries[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return .peerClosed }
            if entries[0].revents & Int16(POLLIN) != 0, clientHasGone() { return .peerClosed }
            if entries[1].revents != 0 { return .otherReady }
            if ready == 0 && deadline <= .now { return .timeout }
        }
    }

    /// Reads what the client sent after its request: true when that was the end (or a reset).
    private func clientHasGone() -> Bool {
        var scratch = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<16 {
            let result = scratch.withUnsafeMutableBytes { read(into: $0, until: .now) }
            switch result {
            case .bytes: continue
            case .closed, .failed: return true
            case .timedOut: return false
            }
        }
        return false
    }

    /// Ends the connection politely: close_notify over TLS, then our side's FIN, then up to
    /// `lingering` (and 1 MiB) reading what the client still sends, so that a client still
    /// writing its request gets our answer instead of a reset.
    func finish(lingering: Duration) {
        tls?.shutdown()
        shutdown(fd, Int32(SHUT_WR))
        let deadline = ContinuousClock.now + lingering
        var scratch = [UInt8](repeating: 0, count: 16 << 10)
        var drained = 0
        while drained < 1 << 20 {
            guard case .bytes(let count) = scratch.withUnsafeMutableBytes({ read(into: $0, until: deadline) }) else { return }
            drained += count
        }
    }

    /// Waits until `fd` is ready for `events` (or in error) or `deadline` passes; false on timeout.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let milliseconds = milliseconds(until: deadline)
            guard milliseconds > 0 else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    /// `deadline` as a poll timeout: rounded up, 0 once it passed.
    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let remaining = deadline - .now
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }
}
