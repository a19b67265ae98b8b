/// The one error type of the TLS module: a stable code and a message for the operator.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The certificate chain file cannot be read or holds no usable certificate.
        case certificate
        /// The private key file cannot be read, is encrypted, or does not match the certificate.
        case privateKey = "private-key"
        /// A handshake failed or did not finish in time.
        case handshake
        /// OpenSSL itself failed (out of memory, a setting refused).
        case library
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
