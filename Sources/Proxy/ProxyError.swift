/// The one error type the Proxy module gives its callers: a stable code for scripts and tests,
/// and a message for the operator. Inside the module, richer typed errors (`NetworkError`,
/// `UpstreamFailure`, `ProxyProtocol.Failure`, `SessionRecorder.RecordingError`) say exactly
/// what went wrong; they become a `ProxyError` where they leave it.
public struct ProxyError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A setting is missing, malformed or cannot work with the others.
        case configuration
        /// A socket could not be bound or an address not resolved.
        case network
        /// An upstream host could not be reached or presented no usable key.
        case upstream
        /// The proxy's own host keys could not be loaded or created.
        case hostKeys = "host-keys"
        /// A CA key could not be made, opened or used, or a certificate not made.
        case certificates
        /// The process is out of a resource it needs, such as descriptors.
        case resources
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
