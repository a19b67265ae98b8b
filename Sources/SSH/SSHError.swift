import CLibSSH

/// The one error type of the SSH layer. libssh return codes become this type only here.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    /// A stable category, safe to switch on and to use as a metric label.
    public enum Code: String, Sendable {
        case setup
        case keyExchange = "key-exchange"
        case timeout
        case authentication
        case channel
        case protocolError = "protocol"
        case hostKey = "host-key"
        case disconnected
    }

    public let code: Code
    /// A human message, usually libssh's own text.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Builds an error from the last libssh error recorded on `handle` (a session or bind).
    static func last(_ code: Code, _ handle: UnsafeMutableRawPointer?, context: String) -> SSHError {
        let detail = handle.flatMap { ssh_get_error($0) }.map { String(cString: $0) } ?? ""
        return SSHError(code, detail.isEmpty ? context : "\(context): \(detail)")
    }
}
