/// What `HTTPStream.wait(forReadable:timeout:)` saw first.
public enum HTTPStreamWait: Equatable, Sendable {
    /// The other descriptor (an eventfd, a pipe) became readable.
    case otherReady
    /// The client closed or reset its connection: the stream is over.
    case peerClosed
    /// Neither, within the timeout.
    case timeout
}

/// The open connection a streaming reply writes its body to (`HTTPReply.stream`), on the
/// request's own thread. Each write must finish within the server's send deadline, so a client
/// that stops reading can hold its writer only that long; once a write failed, the stream is
/// over: later writes return false and waits return `.peerClosed`.
public final class HTTPStream {
    private let connection: HTTPConnection
    private let sendDeadline: Duration
    private var open = true

    init(connection: HTTPConnection, sendDeadline: Duration) {
        self.connection = connection
        self.sendDeadline = sendDeadline
    }

    /// Sends `bytes`; false once the client is gone or they could not all be sent in time.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard open else { return false }
        open = connection.write(bytes, until: .now + sendDeadline)
        return open
    }

    /// Sends `text` as UTF-8; see `write(_:)`.
    @discardableResult
    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Sleeps until `other` becomes readable, the client goes, or `timeout` passes, whichever
    /// comes first (the client's going is reported before `other`'s readiness).
    public func wait(forReadable other: Int32, timeout: Duration) -> HTTPStreamWait {
        guard open else { return .peerClosed }
        switch connection.waitForReadable(other, until: .now + timeout) {
        case .otherReady: return .otherReady
        case .timeout: return .timeout
        case .peerClosed:
            open = false
            return .peerClosed
        }
    }
}
